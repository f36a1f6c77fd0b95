package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAuth(t *testing.T) {
	tests := []struct {
		name       string
		apiKey     string
		sent       string
		wantStatus int
		wantCode   int
	}{
		{"missing", testKey, "", 401, 3},
		{"wrong", testKey, "nope", 401, 3},
		{"right", testKey, testKey, 200, 0},
		{"any key accepted", anyKey, "whatever", 200, 0},
		{"any key but none sent", anyKey, "", 401, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t, Options{APIKey: tc.apiKey, Servers: 50})
			for _, ep := range []string{"/v1/wallets", "/v1/marketplace", "/v1/nope"} {
				r := sb.call(t, http.MethodGet, ep, tc.sent, nil)
				status, code := tc.wantStatus, tc.wantCode
				if ep == "/v1/nope" && status == 200 {
					status, code = 404, 4
				}
				if r.status != status || r.code() != code || r.ctype != "application/json" {
					t.Errorf("%s: %d %s (%s), want %d code %d", ep, r.status, r.raw, r.ctype, status, code)
				}
			}
		})
	}
}

func TestUnknownEndpointAndMethod(t *testing.T) {
	sb := newSandbox(t, Options{Servers: 50})
	tests := []struct {
		method, path string
		wantStatus   int
	}{
		{http.MethodGet, "/v1/nope", 404},
		{http.MethodGet, "/v1/", 404},
		{http.MethodGet, "/v2/marketplace", 404},
		{http.MethodGet, "/v1/marketplace/", 404},
		{http.MethodGet, "/v1/create_order", 405},
		{http.MethodPost, "/v1/marketplace", 405},
		{http.MethodDelete, "/v1/my_orders", 405},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := sb.call(t, tc.method, tc.path, testKey, nil)
			if r.status != tc.wantStatus || string(r.raw) != `{"code":4}` {
				t.Errorf("got %d %s, want %d {\"code\":4}", r.status, r.raw, tc.wantStatus)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	sb := newSandbox(t, Options{RateLimit: true, APIKey: anyKey, Servers: 300})
	step := func(d time.Duration) { sb.clock.Advance(d) }
	limited := `{"code":5}`
	steps := []struct {
		name       string
		advance    time.Duration
		key        string
		create     bool
		wantStatus int
	}{
		{"first", 0, "a", false, 200},
		{"same instant", 0, "a", false, 429},
		{"other key unaffected", 0, "b", false, 200},
		{"0.5s later", 500 * time.Millisecond, "a", false, 429},
		{"rejections do not move the window, no tolerance: 0.999s after accepted", 499 * time.Millisecond, "a", false, 429},
		{"1s after accepted", time.Millisecond, "a", false, 200},
		{"create 1s later", time.Second, "a", true, 200},
		{"1.5s after create", 1500 * time.Millisecond, "a", false, 200},
		{"create 3s after create", 1500 * time.Millisecond, "a", true, 429},
		{"create 4.999s after create (no tolerance)", 1999 * time.Millisecond, "a", true, 429},
		{"create 5s after create", time.Millisecond, "a", true, 200},
	}
	srv := sb.freeServer(t, currencyUSD, "")
	for _, st := range steps {
		step(st.advance)
		var r response
		if st.create {
			r = sb.call(t, http.MethodPost, "/v1/create_order", st.key, map[string]any{"renting_server": srv.ID,
				"type": "on-demand", "currency": currencyUSD, "image": "x"})
		} else {
			r = sb.call(t, http.MethodGet, "/v1/my_orders", st.key, nil)
		}
		if r.status != st.wantStatus || st.wantStatus == 429 && string(r.raw) != limited {
			t.Errorf("%s: %d %s, want %d", st.name, r.status, r.raw, st.wantStatus)
		}
	}
	var got429 int
	for _, rec := range sb.srv.Requests() {
		if rec.Status == http.StatusTooManyRequests {
			got429++
			if rec.Code != 5 || rec.KeyHash != hashKey("a") {
				t.Errorf("429 record: %+v", rec)
			}
		}
	}
	if got429 != 5 {
		t.Errorf("Requests() shows %d 429s, want 5", got429)
	}
}

func TestFaultRates(t *testing.T) {
	t.Parallel()
	const n = 400
	tests := []struct {
		name      string
		faults    Faults
		wantShare float64
		isFault   func(r response) bool
	}{
		{"errors", Faults{ErrorRate: 0.25}, 0.25, func(r response) bool {
			return r.status == 500 && string(r.raw) == `{"code":1}`
		}},
		{"garbage", Faults{GarbageRate: 0.2}, 0.2, func(r response) bool {
			cloudflare := r.status == 403 && strings.HasPrefix(r.ctype, "text/plain") && string(r.raw) == "error code: 1010"
			truncated := r.status == 200 && r.body == nil
			return cloudflare || truncated
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := func() string {
				sb := newSandbox(t, Options{Servers: 20, Faults: tc.faults})
				var seq strings.Builder
				faults := 0
				for range n {
					r := sb.get(t, "/v1/spot_marketplace?market=x") // code 2, no state access
					if tc.isFault(r) {
						faults++
						seq.WriteByte('x')
					} else if r.status != 400 || r.code() != 2 {
						t.Fatalf("unexpected answer %d %s", r.status, r.raw)
					} else {
						seq.WriteByte('.')
					}
				}
				within(t, "fault share", float64(faults)/n, tc.wantShare*0.6, tc.wantShare*1.4)
				return seq.String()
			}
			if a, b := run(), run(); a != b {
				t.Error("same seed gave a different fault sequence")
			}
		})
	}
}

func TestLatencyHonoursCancellation(t *testing.T) {
	sb := newSandbox(t, Options{Servers: 20})
	sb.srv.SetFaults(Faults{Latency: 30 * time.Millisecond})
	start := time.Now()
	if r := sb.get(t, "/v1/wallets"); r.status != 200 || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("with latency: %d after %v", r.status, time.Since(start))
	}

	sb.srv.SetFaults(Faults{Latency: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sb.ts.URL+"/v1/wallets", nil)
	req.Header.Set("auth", testKey)
	start = time.Now()
	resp, err := sb.ts.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("request with a minute of latency succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	deadline := time.Now().Add(5 * time.Second)
	for !hasAbandoned(sb.srv.Requests()) {
		if time.Now().After(deadline) {
			t.Fatal("abandoned request never recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hasAbandoned reports whether a record shows a request that went away.
func hasAbandoned(recs []RequestRecord) bool {
	for _, r := range recs {
		if r.Status == 0 {
			return true
		}
	}
	return false
}

func TestInjectNext(t *testing.T) {
	sb := newSandbox(t, Options{Servers: 50})
	sb.srv.InjectNext("create_order", 429, `{"code":5}`)
	sb.srv.InjectNext("create_order", 502, `<html>bad gateway</html>`)
	sb.srv.InjectNext("wallets", 200, `{"wallets":[],"code":0}`)

	want := []struct {
		status int
		body   string
		ctype  string
	}{
		{429, `{"code":5}`, "application/json"},
		{502, `<html>bad gateway</html>`, "text/plain; charset=utf-8"},
		{200, "", "application/json"}, // queue empty: a real answer (code 2 here)
	}
	for i, w := range want {
		r := sb.call(t, http.MethodPost, "/v1/create_order", "", `{}`) // even without auth
		if i < 2 && (r.status != w.status || string(r.raw) != w.body || r.ctype != w.ctype) {
			t.Errorf("answer %d: %d %q %q", i, r.status, r.raw, r.ctype)
		}
		if i == 2 && r.status != 401 {
			t.Errorf("after the queue: %d %s, want the real 401", r.status, r.raw)
		}
	}
	if r := sb.get(t, "/v1/wallets"); string(r.raw) != `{"wallets":[],"code":0}` {
		t.Errorf("wallets injection: %s", r.raw)
	}
	recs := sb.srv.Requests()
	if recs[0].Code != 5 || recs[1].Code != -1 || recs[2].Code != 3 {
		t.Errorf("records: %+v", recs[:3])
	}
}

func TestStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, stop, err := Start(ctx, Options{StatePath: t.TempDir() + "/state.db", APIKey: testKey, Servers: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/v1") {
		t.Errorf("url %q", url)
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/marketplace", nil)
	req.Header.Set("auth", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasSuffix(string(body), `"code":0}`) {
		t.Errorf("marketplace: %d %.100s", resp.StatusCode, body)
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if _, err := http.Get(url + "/marketplace"); err == nil {
		t.Error("server still answers after stop")
	}
}

func TestStartStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	url, stop, err := Start(ctx, Options{StatePath: t.TempDir() + "/state.db", Servers: 10})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := stop(); err != nil { // waits for the shutdown cancel started
		t.Errorf("stop: %v", err)
	}
	if _, err := http.Get(url + "/wallets"); err == nil {
		t.Error("server still answers after ctx was cancelled")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []Options{
		{},
		{StatePath: "x.db", Servers: -1},
		{StatePath: "x.db", RaceRate: 2},
		{StatePath: "x.db", Faults: Faults{ErrorRate: -0.1}},
		{StatePath: "x.db", DriftPerHour: -1},
	}
	for i, opts := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if srv, err := New(opts); err == nil {
				srv.Close()
				t.Errorf("New(%+v) succeeded", opts)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	got, err := Options{StatePath: "x.db"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got.Seed != 1 || got.Servers != 2000 || got.DriftPerHour != 0 || got.ProvisionDelay != 20*time.Second ||
		got.MinInterval != time.Second || got.CreateInterval != 5*time.Second ||
		got.Now == nil || got.InitialBalances[currencyUSD] != 500 || got.InitialBalances[currencyCLORE] != 250000 ||
		got.InitialBalances[currencyBTC] != 0.005 {
		t.Errorf("defaults: %+v", got)
	}
}

// A connection that never sent a request (an HTTP client's spare dial: the
// transport dials for a request that another connection served first) does
// not fail the stop: `serve --sandbox` exited 1 on a plain SIGTERM with
// "sandbox: stop: context deadline exceeded" when one was open. A request
// in progress still does.
func TestStopDoesNotWaitForAnUnusedConnection(t *testing.T) {
	old := stopTimeout
	stopTimeout = 200 * time.Millisecond
	t.Cleanup(func() { stopTimeout = old })
	url, stop, err := Start(context.Background(), Options{StatePath: t.TempDir() + "/state.db", Servers: 10})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := stop(); err != nil {
		t.Fatalf("stop with an unused connection open: %v", err)
	}
	if _, err := http.Get(url + "/wallets"); err == nil {
		t.Error("server still answers after stop")
	}
}
