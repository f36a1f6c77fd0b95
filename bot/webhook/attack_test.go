package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// awaitingJob queues a rent above confirm_above for zapier and returns its id.
func awaitingJob(t *testing.T, h *harness) string {
	t.Helper()
	resp := h.do(h.signed("POST", "/webhook/create-order", "zapier", []byte(`{"gpu_type":"3090"}`)))
	if resp.status != http.StatusAccepted || resp.str("status") != "awaiting_confirmation" {
		t.Fatalf("create-order = %d %s", resp.status, resp.raw)
	}
	return resp.str("job_id")
}

// replay copies r's signature headers onto a new request.
func replay(r *http.Request, method, path string, body []byte) *http.Request {
	out := request(method, path, body)
	for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature", "X-Webhook-Signature", "X-Webhook-Timestamp", "Idempotency-Key"} {
		if v := r.Header.Values(k); len(v) > 0 {
			out.Header[http.CanonicalHeaderKey(k)] = v
		}
	}
	return out
}

// The headers of a signed read, replayed as a write, never act: the id is
// bound to the method and route it was first used on, and confirm's body
// names its job, so an empty-body signature cannot confirm anything.
func TestAttackReplayedReadHeadersNeverConfirm(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *webhook.APIOptions, p *commands.Policy) { p.ConfirmAbove = 0.01 })
	id := awaitingJob(t, h)
	jobPath, confirmPath := "/webhook/jobs/"+id, "/webhook/jobs/"+id+"/confirm"

	seenJobGET := h.signed("GET", jobPath, "zapier", nil)
	if r := h.do(seenJobGET); r.status != 200 {
		t.Fatalf("GET job = %d %s", r.status, r.raw)
	}
	seenMarket := h.signed("GET", "/webhook/marketplace", "ops", nil)
	if r := h.do(seenMarket); r.status != 200 {
		t.Fatalf("GET marketplace = %d %.200s", r.status, r.raw)
	}
	// Captured in transit: never reached clorebot before the replay.
	unseenJobGET := h.signed("GET", jobPath, "zapier", nil)
	unseenAdminGET := h.signed("GET", jobPath, "ops", nil)

	tests := []struct {
		name     string
		captured *http.Request
		method   string
		path     string
		body     string
		status   int
		want     string
	}{
		{"seen job GET as confirm", seenJobGET, "POST", confirmPath, "", 422, "webhook-id: already used for a different request"},
		{"seen job GET as confirm, with a JSON content type", seenJobGET, "POST", confirmPath, "", 422, "already used"},
		{"seen marketplace GET (admin key) as confirm", seenMarket, "POST", confirmPath, "", 422, "already used"},
		{"seen job GET as status", seenJobGET, "POST", "/webhook/status", "", 422, "already used"},
		{"seen job GET on another job", seenJobGET, "GET", "/webhook/jobs/otherjob", "", 422, "already used"},
		{"unseen job GET as confirm", unseenJobGET, "POST", confirmPath, "", 400, "job_id: required"},
		{"unseen admin GET as confirm", unseenAdminGET, "POST", confirmPath, "", 400, "job_id: required"},
		{"unseen GET with the body it would need", unseenJobGET, "POST", confirmPath, `{"job_id":"` + id + `"}`, 401, "webhook-signature: no signature matches"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := replay(tt.captured, tt.method, tt.path, []byte(tt.body))
			if tt.body == "" && strings.HasSuffix(tt.path, "/confirm") && !strings.Contains(tt.name, "content type") {
				r.Header.Del("Content-Type")
			}
			resp := h.do(r)
			if resp.status != tt.status || !strings.Contains(resp.str("error"), tt.want) {
				t.Errorf("got %d %s; want %d naming %q", resp.status, resp.raw, tt.status, tt.want)
			}
		})
	}
	job, err := h.store.GetJob(context.Background(), id)
	if err != nil || job.State != commands.JobAwaitingConfirmation {
		t.Fatalf("job after the replays: %s, %v; want it still awaiting confirmation", job.State, err)
	}
	if n := h.createOrderCalls(); n != 0 {
		t.Fatalf("%d create_order calls", n)
	}
	// The same GET sent again is the same message: its first answer.
	if r := h.do(replay(seenJobGET, "GET", jobPath, nil)); r.status != 200 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("GET replayed on its own route = %d %s", r.status, r.raw)
	}
}

// The compatibility scheme's empty-body signature never changes; it is not
// accepted on GETs or confirm, and not at all unless switched on.
func TestAttackStaticLegacyEmptyBodySignature(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *webhook.APIOptions, p *commands.Policy) { p.ConfirmAbove = 0.01 })
	id := awaitingJob(t, h)
	static := webhook.SignLegacy([]byte(h.secrets["ops"]), nil, nil) // the admin key's
	confirmBody := []byte(`{"job_id":"` + id + `"}`)
	tests := []struct {
		name, method, path string
		body               []byte
		sig                string
	}{
		{"read a job", "GET", "/webhook/jobs/" + id, nil, static},
		{"read the marketplace", "GET", "/webhook/marketplace", nil, static},
		{"confirm with an empty body", "POST", "/webhook/jobs/" + id + "/confirm", nil, static},
		{"confirm with a signed body", "POST", "/webhook/jobs/" + id + "/confirm", confirmBody,
			webhook.SignLegacy([]byte(h.secrets["ops"]), nil, confirmBody)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(tt.method, tt.path, tt.body)
			r.Header.Set("X-Webhook-Signature", tt.sig)
			resp := h.do(r)
			if resp.status != http.StatusUnauthorized || !strings.Contains(resp.str("error"), "X-Webhook-Signature is not accepted here") {
				t.Errorf("got %d %s; want 401", resp.status, resp.raw)
			}
		})
	}
	// Off by default: not even the seed's routes take it.
	off := newHarness(t, func(o *webhook.APIOptions, _ *commands.Policy) { o.LegacySignatures = false })
	body := []byte(`{"gpu_type":"3090"}`)
	r := request("POST", "/webhook/create-order", body)
	r.Header.Set("X-Webhook-Signature", webhook.SignLegacy([]byte(off.secrets["cron"]), nil, body))
	if resp := off.do(r); resp.status != http.StatusUnauthorized {
		t.Errorf("legacy create-order with the scheme off = %d %s", resp.status, resp.raw)
	}
	if j, _ := h.store.GetJob(context.Background(), id); j.State != commands.JobAwaitingConfirmation || h.createOrderCalls() != 0 {
		t.Fatalf("job %s, %d create_order calls", j.State, h.createOrderCalls())
	}
	if off.count("jobs") != 0 {
		t.Fatal("a job was queued with the scheme off")
	}
}

// A captured compatibility create-order without a timestamp, sent again
// with new, or no, Idempotency-Keys, rents once: it is deduplicated by its
// body for the dedup window. Status is a read and is answered each time.
func TestAttackLegacyCreateOrderReplayWithNewIdempotencyKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	legacyKey := []byte(h.secrets["cron"])
	body := []byte(`{"gpu_type":"RTX 3090","hours":1}`)
	sig := webhook.SignLegacy(legacyKey, nil, body)
	var first response
	for i, idem := range []string{"order-1", "", "attacker-2", "attacker-3", "order-1"} {
		t.Run(fmt.Sprintf("send %d key %q", i, idem), func(t *testing.T) {
			r := request("POST", "/webhook/create-order", body)
			r.Header.Set("X-Webhook-Signature", sig)
			if idem != "" {
				r.Header.Set("Idempotency-Key", idem)
			}
			resp := h.do(r)
			if i == 0 {
				first = resp
				if resp.status != http.StatusAccepted {
					t.Fatalf("first = %d %s", resp.status, resp.raw)
				}
				return
			}
			if resp.status != first.status || resp.raw != first.raw || resp.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay = %d %s; want the first answer, replayed", resp.status, resp.raw)
			}
		})
	}
	if n := h.count("jobs"); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
	// The same body on cancel-order is another request of its own route.
	cancel := []byte(`{"order_id":424242}`)
	for i := range 2 {
		r := request("POST", "/webhook/cancel-order", cancel)
		r.Header.Set("X-Webhook-Signature", webhook.SignLegacy(legacyKey, nil, cancel))
		r.Header.Set("Idempotency-Key", fmt.Sprintf("c-%d", i))
		if resp := h.do(r); (i == 1) != (resp.header.Get("Idempotent-Replayed") == "true") {
			t.Fatalf("cancel %d = %d %s", i, resp.status, resp.raw)
		}
	}
	// Status is not deduplicated by its body.
	for i := range 2 {
		r := request("POST", "/webhook/status", []byte(`{}`))
		r.Header.Set("X-Webhook-Signature", webhook.SignLegacy(legacyKey, nil, []byte(`{}`)))
		if resp := h.do(r); resp.status != 200 || resp.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("status %d = %d %v %s", i, resp.status, resp.header, resp.raw)
		}
	}
}

// An unsigned flood from one address exhausts that address's limit; a
// signed key on the same address keeps working, limited by its own rate.
func TestAttackUnsignedFloodDoesNotLockOutSignedKey(t *testing.T) {
	t.Parallel()
	proxies, err := webhook.ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(o *webhook.APIOptions, _ *commands.Policy) {
		o.RatePerMinute, o.IPRatePerMinute, o.TrustedProxies = 1000, 20, proxies
	})
	h.clock.Freeze()
	help := []byte(`{"text":"help"}`)
	statuses := map[int]int{}
	for i := range 100 {
		flood := request("POST", "/webhook/command", help)
		if i%2 == 0 {
			flood.Header.Set("webhook-signature", "v1,AAAA") // bad signatures count the same
			flood.Header.Set("webhook-id", "msg_x")
			flood.Header.Set("webhook-timestamp", "1")
		}
		statuses[h.do(flood).status]++
		if i%10 == 0 {
			if r := h.do(h.signed("POST", "/webhook/command", "zapier", help)); r.status != 200 {
				t.Fatalf("signed request %d during the flood = %d %s", i, r.status, r.raw)
			}
		}
	}
	if statuses[401] != 20 || statuses[429] != 80 {
		t.Fatalf("flood statuses = %v; want 20×401 then 80×429", statuses)
	}
	// Behind a trusted proxy, each client has its own limit.
	viaProxy := func(client string) int {
		r := request("POST", "/webhook/command", help)
		r.RemoteAddr = "10.0.0.2:5000"
		r.Header.Set("X-Forwarded-For", client)
		return h.do(r).status
	}
	for range 25 {
		viaProxy("203.0.113.66")
	}
	if got := viaProxy("203.0.113.66"); got != 429 {
		t.Fatalf("flooding client behind the proxy = %d, want 429", got)
	}
	if got := viaProxy("203.0.113.77"); got != 401 {
		t.Fatalf("another client behind the same proxy = %d, want 401 (not limited)", got)
	}
	// An untrusted peer cannot pick its address with the header.
	spoof := request("POST", "/webhook/command", help)
	spoof.Header.Set("X-Forwarded-For", "203.0.113.99")
	if r := h.do(spoof); r.status != 429 {
		t.Fatalf("spoofed X-Forwarded-For from the flooding peer = %d, want 429", r.status)
	}
	if n := h.count("jobs"); n != 0 {
		t.Fatalf("%d jobs", n)
	}
}

// A callback_url to a non-public literal host is refused at intake, on
// every route that takes one, and changes nothing; a name is checked when
// it is dialed (ssrf_test.go). webhook.callback_allow_private lifts it.
func TestAttackPrivateCallbackTargetsAreRefusedAtIntake(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	targets := []string{
		"http://127.0.0.1:8080/", "http://127.9.9.9/", "http://[::1]:9000/x", "http://169.254.169.254/latest/meta-data/",
		"http://10.0.0.5/", "http://172.16.0.1/", "http://192.168.1.1/admin", "http://100.64.0.1/", "http://0.0.0.0:22/",
		"http://[::]/", "http://[fd00::1]/", "http://[fe80::1%25eth0]/", "http://[ff02::1]/", "http://224.0.0.1/",
		"http://255.255.255.255/", "http://198.18.0.1/", "http://192.0.0.170/",
		"http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b::7f00:1]/",
		"http://localhost:8080/", "http://metadata.localhost/", "http://2130706433/", "http://0x7f.0.0.1/", "http://127.1/",
	}
	bodies := map[string]string{
		"/webhook/create-order": `{"gpu_type":"3090","callback_url":%q}`,
		"/webhook/price-alert":  `{"gpu_type":"3090","target_price":0.1,"callback_url":%q}`,
		"/webhook/status":       `{"callback_url":%q}`,
		"/webhook/command":      `{"text":"help","callback_url":%q}`,
	}
	for _, target := range targets {
		for path, tmpl := range bodies {
			t.Run(path+" "+target, func(t *testing.T) {
				resp := h.do(h.signed("POST", path, "zapier", fmt.Appendf(nil, tmpl, target)))
				if resp.status != http.StatusBadRequest || !strings.HasPrefix(resp.str("error"), "callback_url: ") {
					t.Fatalf("got %d %s; want 400 naming callback_url", resp.status, resp.raw)
				}
			})
		}
	}
	for table, want := range map[string]int{"jobs": 0, "watches": 0, "outbox": 0, "deliveries": 0} {
		if got := h.count(table); got != want {
			t.Errorf("%d rows in %s, want %d", got, table, want)
		}
	}
	allowed := newHarness(t, func(o *webhook.APIOptions, _ *commands.Policy) { o.CallbackAllowPrivate = true })
	resp := allowed.do(allowed.signed("POST", "/webhook/create-order", "zapier", []byte(`{"gpu_type":"3090","callback_url":"http://127.0.0.1:8080/"}`)))
	if resp.status != http.StatusAccepted {
		t.Fatalf("with callback_allow_private = %d %s", resp.status, resp.raw)
	}
	public := h.do(h.signed("POST", "/webhook/create-order", "zapier", []byte(`{"gpu_type":"3090","callback_url":"https://hooks.example.com/cb"}`)))
	if public.status != http.StatusAccepted {
		t.Fatalf("public callback = %d %s", public.status, public.raw)
	}
}

// passwordIn lists where a password is still stored: table rows, and the
// bytes of the database and WAL files.
func passwordIn(t *testing.T, h *harness, password string) []string {
	t.Helper()
	var where []string
	db := storagetest.OpenSQL(t, h.dbPath)
	defer db.Close()
	queries := map[string]string{
		"jobs":             "SELECT count(*) FROM jobs WHERE instr(coalesce(params, '') || coalesce(result, '') || coalesce(checkpoint, ''), ?) > 0",
		"outbox":           "SELECT count(*) FROM outbox WHERE instr(data, ?) > 0",
		"webhook_requests": "SELECT count(*) FROM webhook_requests WHERE instr(CAST(answer AS TEXT), ?) > 0",
		"audit":            "SELECT count(*) FROM audit WHERE instr(command || detail, ?) > 0",
	}
	if storagetest.Postgres() {
		queries = map[string]string{
			"jobs":             "SELECT count(*) FROM jobs WHERE strpos(coalesce(params, '') || coalesce(result, '') || coalesce(checkpoint, ''), $1) > 0",
			"outbox":           "SELECT count(*) FROM outbox WHERE strpos(data, $1) > 0",
			"webhook_requests": "SELECT count(*) FROM webhook_requests WHERE position(convert_to($1, 'UTF8') in answer) > 0",
			"audit":            "SELECT count(*) FROM audit WHERE strpos(command || detail, $1) > 0",
		}
	}
	for table, q := range queries {
		var n int
		if err := db.QueryRow(q, password).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if n > 0 {
			where = append(where, fmt.Sprintf("%d rows of %s", n, table))
		}
	}
	for _, f := range []string{h.dbPath, h.dbPath + "-wal"} {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(password)) {
			where = append(where, "the bytes of "+filepath.Base(f))
		}
	}
	return where
}

// fieldValue is a value of an ssh object, as a string ("" when absent).
func fieldValue(ssh map[string]any, name string) string {
	switch v := ssh[name].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// sshData is the ssh object of an order.connection's data.
func sshData(data map[string]any) map[string]any {
	ssh, _ := data["ssh"].(map[string]any)
	return ssh
}

// sshOf is the ssh object of a job answer's order (nil when none).
func sshOf(body map[string]any) map[string]any {
	order, _ := body["order"].(map[string]any)
	ssh, _ := order["ssh"].(map[string]any)
	return ssh
}

// A webhook rent without callback_url: its connection details are in the
// answer of the first signed GET of the job by the key that asked, never
// in an admin's, never twice, and then the password is gone from the
// database.
func TestConnectionDetailsGoToTheFirstGETThenTheyAreWiped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	resp := h.do(h.signed("POST", "/webhook/create-order", "zapier", []byte(`{"gpu_type":"RTX 3090","hours":1}`)))
	if resp.status != http.StatusAccepted {
		t.Fatalf("create-order = %d %s", resp.status, resp.raw)
	}
	id := resp.str("job_id")
	if job, err := h.svc.RunJob(ctx, id); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("RunJob = %+v, %v", job.State, err)
	}
	if admin := h.do(h.signed("GET", "/webhook/jobs/"+id, "ops", nil)); admin.status != 200 || sshOf(admin.body) != nil {
		t.Fatalf("admin's GET = %d %s; want the job without connection details", admin.status, admin.raw)
	}
	first := h.signed("GET", "/webhook/jobs/"+id, "zapier", nil)
	got := h.do(first)
	conn := sshOf(got.body)
	password := fieldValue(conn, "password")
	if got.status != 200 || len(password) < 16 {
		t.Fatalf("first GET = %d %s; want the connection details with a password", got.status, got.raw)
	}
	if where := passwordIn(t, h, password); len(where) != 0 {
		t.Fatalf("after the hand-over the password is still in %v", where)
	}
	again := h.do(replay(first, "GET", "/webhook/jobs/"+id, nil))
	if again.header.Get("Idempotent-Replayed") != "true" || strings.Contains(again.raw, password) || sshOf(again.body) != nil {
		t.Fatalf("replayed GET = %s", again.raw)
	}
	if next := h.do(h.signed("GET", "/webhook/jobs/"+id, "zapier", nil)); sshOf(next.body) != nil || next.str("state") != "succeeded" {
		t.Fatalf("second GET = %s", next.raw)
	}
}

// With a callback_url, the details go there, signed, and once delivered
// the password is gone from the job, the outbox and the files.
func TestConnectionDetailsDeliveredToTheCallbackThenWiped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *webhook.APIOptions, _ *commands.Policy) { o.CallbackAllowPrivate = true })
	ctx := context.Background()
	var mu sync.Mutex
	var bodies [][]byte
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	body := fmt.Appendf(nil, `{"gpu_type":"RTX 3090","hours":1,"callback_url":%q}`, rc.URL+"/cb")
	resp := h.do(h.signed("POST", "/webhook/create-order", "zapier", body))
	if resp.status != http.StatusAccepted {
		t.Fatalf("create-order = %d %s", resp.status, resp.raw)
	}
	id := resp.str("job_id")
	if job, err := h.svc.RunJob(ctx, id); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("RunJob = %+v, %v", job.State, err)
	}
	key, _ := webhook.ParseSecret(h.secrets["zapier"])
	d, err := webhook.NewDispatcher(webhook.DispatcherOptions{Store: h.store, KeySecrets: map[string][]byte{"zapier": key},
		CallbackAllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	password := ""
	mu.Lock()
	for _, b := range bodies {
		var p struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if json.Unmarshal(b, &p) == nil && p.Type == commands.EventOrderConnection {
			password = fieldValue(sshData(p.Data), "password")
		}
	}
	mu.Unlock()
	if len(password) < 16 {
		t.Fatalf("no connection details with a password among %d deliveries", len(bodies))
	}
	if where := passwordIn(t, h, password); len(where) != 0 {
		t.Fatalf("after the delivery the password is still in %v", where)
	}
	if got := h.do(h.signed("GET", "/webhook/jobs/"+id, "zapier", nil)); strings.Contains(got.raw, password) || sshOf(got.body) != nil {
		t.Fatalf("GET after the callback got the details again: %s", got.raw)
	}
}

// A webhook rent may bring its SSH public key: no password is made then.
func TestCreateOrderTakesAnSSHKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := "ssh-ed25519 " + strings.Repeat("A", 68) + " ci@example"
	resp := h.do(h.signed("POST", "/webhook/create-order", "zapier", fmt.Appendf(nil, `{"gpu_type":"3090","ssh_key":%q}`, key)))
	if resp.status != http.StatusAccepted {
		t.Fatalf("create-order = %d %s", resp.status, resp.raw)
	}
	job, err := h.store.GetJob(context.Background(), resp.str("job_id"))
	if err != nil || !strings.Contains(string(job.Params), `"ssh_key":"`+key+`"`) || strings.Contains(string(job.Params), "ssh_password") {
		t.Fatalf("job params = %s, %v; want the key and no password", job.Params, err)
	}
}

// A compatibility create-order without timestamp or Idempotency-Key sent
// again after the dedup window (a daily cron sending the same body) finds
// the job it made then: it is refused with 409 naming that job, rents
// nothing, and gets the same 409 while that answer is remembered. Signed
// with a timestamp, the same body rents again: a daily cron that signs
// its requests is not refused by the window meant for unsigned ones.
func TestLegacyWriteRepeatedAfterTheWindowIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *webhook.APIOptions, _ *commands.Policy) { o.DedupWindow = time.Hour })
	key := []byte(h.secrets["cron"])
	body := []byte(`{"gpu_type":"RTX 3090","hours":1}`)
	send := func(ts *time.Time) response {
		r := request("POST", "/webhook/create-order", body)
		r.Header.Set("X-Webhook-Signature", webhook.SignLegacy(key, ts, body))
		if ts != nil {
			r.Header.Set("X-Webhook-Timestamp", strconv.FormatInt(ts.Unix(), 10))
		}
		return h.do(r)
	}
	first := send(nil)
	if first.status != http.StatusAccepted || first.str("status") != "queued" {
		t.Fatalf("first = %d %s", first.status, first.raw)
	}
	jobID := first.str("job_id")
	h.clock.Advance(2 * time.Hour)
	if n, err := h.api.PurgeDedup(context.Background()); err != nil || n != 1 {
		t.Fatalf("purge = %d, %v", n, err)
	}
	for i := range 2 {
		resp := send(nil)
		if resp.status != http.StatusConflict || resp.str("job_id") != jobID ||
			!strings.Contains(resp.str("error"), "already processed as job "+jobID) ||
			!strings.Contains(resp.str("hint"), "X-Webhook-Timestamp") {
			t.Fatalf("repeat %d after the window = %d %s; want 409 naming job %s", i, resp.status, resp.raw, jobID)
		}
		if (i == 1) != (resp.header.Get("Idempotent-Replayed") == "true") {
			t.Fatalf("repeat %d: Idempotent-Replayed = %q", i, resp.header.Get("Idempotent-Replayed"))
		}
	}
	if n := h.count("jobs"); n != 1 {
		t.Fatalf("%d jobs after the refused repeats, want 1", n)
	}
	ts := h.clock.Now()
	if resp := send(&ts); resp.status != http.StatusAccepted || resp.str("job_id") == jobID {
		t.Fatalf("timestamped repeat = %d %s; want a new job", resp.status, resp.raw)
	}
	if n := h.count("jobs"); n != 2 {
		t.Fatalf("%d jobs, want 2", n)
	}
}

// Review R2, its webhook part: a webhook rent whose process was killed
// between the job's stored success and the queueing of its connection
// details (CallbackNotifier.Notify) had them nowhere: not for the
// callback, not for GET /webhook/jobs/{id}. The first GET by the key that
// asked now gets them from the command layer, once the orders snapshot
// shows the order (details handed over once must be whole), and never an
// admin's GET; afterwards the password is gone from the database.
func TestConnectionDetailsOfARentKilledBeforeQueueingThem(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	resp := h.do(h.signed("POST", "/webhook/create-order", "zapier", []byte(`{"gpu_type":"RTX 3090","hours":1}`)))
	if resp.status != http.StatusAccepted {
		t.Fatalf("create-order = %d %s", resp.status, resp.raw)
	}
	id := resp.str("job_id")
	// The process that ran the job stored its success and died before
	// notifying: a service with no notifier stands for it.
	killed := commands.New(commands.Options{Store: h.store, Clore: h.client, Policy: testPolicy(),
		PollInterval: 50 * time.Millisecond, ReconcileWindow: 400 * time.Millisecond, ProvisionTimeout: 20 * time.Second})
	if err := killed.RefreshMarket(ctx); err != nil {
		t.Fatal(err)
	}
	if job, err := killed.RunJob(ctx, id); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("RunJob = %+v, %v", job.State, err)
	}
	if got := h.do(h.signed("GET", "/webhook/jobs/"+id, "zapier", nil)); got.status != 200 || sshOf(got.body) != nil {
		t.Fatalf("GET before the orders snapshot shows the order = %d %s; want the job without (incomplete) details", got.status, got.raw)
	}
	if err := h.svc.RefreshOrders(ctx); err != nil { // serve's next tick
		t.Fatal(err)
	}
	if admin := h.do(h.signed("GET", "/webhook/jobs/"+id, "ops", nil)); admin.status != 200 || sshOf(admin.body) != nil {
		t.Fatalf("admin's GET = %d %s; want the job without connection details", admin.status, admin.raw)
	}
	got := h.do(h.signed("GET", "/webhook/jobs/"+id, "zapier", nil))
	conn := sshOf(got.body)
	password := fieldValue(conn, "password")
	if got.status != 200 || len(password) < 16 || fieldValue(conn, "host") == "" || fieldValue(conn, "port") == "" {
		t.Fatalf("first GET after the refresh = %d %s; want the connection details with the ssh command and a password", got.status, got.raw)
	}
	if where := passwordIn(t, h, password); len(where) != 0 {
		t.Fatalf("after the hand-over the password is still in %v", where)
	}
	if next := h.do(h.signed("GET", "/webhook/jobs/"+id, "zapier", nil)); sshOf(next.body) != nil {
		t.Fatalf("second GET = %s; the details are handed over once", next.raw)
	}
}
