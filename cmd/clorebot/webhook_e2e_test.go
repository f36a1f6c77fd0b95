package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/contract"
)

// e2eReceiver keeps every delivery it gets, by path.
type e2eReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs map[string][]receivedDelivery
}

type receivedDelivery struct {
	header http.Header
	body   []byte
	typ    string
}

func newE2EReceiver(t *testing.T) *e2eReceiver {
	t.Helper()
	rc := &e2eReceiver{reqs: map[string][]receivedDelivery{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct{ Type string }
		_ = json.Unmarshal(body, &ev)
		rc.mu.Lock()
		rc.reqs[r.URL.Path] = append(rc.reqs[r.URL.Path], receivedDelivery{r.Header.Clone(), body, ev.Type})
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

// waitTypes waits until path has received every event type of want.
func (rc *e2eReceiver) waitTypes(t *testing.T, path string, want ...string) []receivedDelivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rc.mu.Lock()
		got := slices.Clone(rc.reqs[path])
		rc.mu.Unlock()
		var types []string
		for _, d := range got {
			types = append(types, d.typ)
		}
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return slices.Contains(types, w) })
		if len(missing) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s received %v; still missing %v", path, types, missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const e2eKeySecret = "zap-secret-text-0123456789"

var e2eSubSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("subscriber-secret-bytes"))

// startServe runs `serve --sandbox` in-process with one webhook key and one
// subscriber, and returns its base URL and the configuration's path.
func startServe(t *testing.T, subURL string) (base, configPath string) {
	t.Helper()
	return startServeWith(t, subURL, nil)
}

// startServeWith is startServe with prepare run between Open and Run.
func startServeWith(t *testing.T, subURL string, prepare func(context.Context, *App) error) (base, configPath string) {
	t.Helper()
	configPath = writeWebhookConfig(t, t.TempDir(), subURL)
	app := runServe(t, configPath, slog.New(slog.DiscardHandler), prepare)
	return "http://" + app.Addr().String(), configPath
}

// writeWebhookConfig writes, in dir, the configuration of `serve --sandbox`
// with the webhook key zap and one subscriber, and returns its path.
func writeWebhookConfig(t *testing.T, dir, subURL string) (configPath string) {
	t.Helper()
	configPath = filepath.Join(dir, "clorebot.toml")
	conf := sandboxConfig(t, dir) + fmt.Sprintf(`servers = 500
[webhook]
legacy_signatures = true
callback_allow_private = true
[[webhook.keys]]
name = "zap"
secret = %q
roles = ["renter"]
[[webhook.subscribers]]
url = %q
secret = %q
`, e2eKeySecret, subURL, e2eSubSecret)
	writeConfig(t, configPath, conf)
	return configPath
}

// signWithCLI signs body (nil for a GET route) with `clorebot webhook sign`.
func signWithCLI(t *testing.T, configPath, path string, legacy bool, body []byte) http.Header {
	t.Helper()
	args := []string{"--config", configPath, "webhook", "sign", "--key", "zap", "--path", path}
	if legacy {
		args = append(args, "--legacy")
	}
	if body != nil {
		f := filepath.Join(t.TempDir(), "body.json")
		if err := os.WriteFile(f, body, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, f)
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), args, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("webhook sign: exit %d\n%s", code, stderr.String())
	}
	h, _ := printedHeaders(t, stdout.String())
	return h
}

func send(t *testing.T, method, url string, h http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// waitJob polls GET /webhook/jobs/{id}, signed, until the job has ended.
func waitJob(t *testing.T, base, id string) map[string]any {
	t.Helper()
	key, _ := webhook.ConfiguredKey("zap", e2eKeySecret)
	deadline := time.Now().Add(45 * time.Second)
	// A client of the API as it is meant to be used: polling backs off to
	// one request a second (the key's limit is 60 a minute) and a 429's
	// Retry-After is respected, however slow the job is under load.
	pause := 50 * time.Millisecond
	for {
		h := webhook.SignedHeaders(key.Secret, webhook.NewMessageID(), time.Now(), nil)
		code, hdr, body := send(t, http.MethodGet, base+"/webhook/jobs/"+id, h, nil)
		wait := min(2*pause, time.Second)
		pause = wait
		switch code {
		case http.StatusTooManyRequests:
			if s, err := strconv.Atoi(hdr.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
		case http.StatusOK:
			var job map[string]any
			if json.Unmarshal(body, &job) != nil {
				t.Fatalf("GET job %s = %d %s", id, code, body)
			}
			if s := job["state"]; s != commands.JobQueued && s != commands.JobRunning {
				return job
			}
		default:
			t.Fatalf("GET job %s = %d %s", id, code, body)
		}
		if time.Now().Add(wait).After(deadline) {
			t.Fatalf("job %s did not end: %d %s", id, code, body)
		}
		time.Sleep(wait)
	}
}

// The whole webhook path of `serve --sandbox`: requests signed by
// `clorebot webhook sign` (Standard Webhooks and the compatibility scheme),
// a rent and a cancel as durable jobs at the sandbox, a redelivery answered
// from the dedup record, and the lifecycle events delivered, signed, to the
// subscriber and to the request's callback_url.
func TestServeWebhooksEndToEnd(t *testing.T) {
	t.Parallel()
	rc := newE2EReceiver(t)
	base, configPath := startServe(t, rc.URL+"/sub")

	// The marketplace, signed GET: pick the cheapest model on offer. Right
	// after start it may answer 503 (warming up) until the first refresh.
	var code int
	var body []byte
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, _, body = send(t, http.MethodGet, base+"/webhook/marketplace", signWithCLI(t, configPath, "/webhook/marketplace", false, nil), nil)
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
	}
	var market struct {
		Models []commands.ModelSummary `json:"models"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &market) != nil || len(market.Models) < 10 {
		t.Fatalf("GET /webhook/marketplace = %d %.300s", code, body)
	}
	var gpu string
	best := 1e9
	for _, m := range market.Models {
		if m.Available > 0 && m.Reliable > 0 && m.Reliable < best {
			gpu, best = m.Model, m.Reliable
		}
	}

	// create-order, signed by the CLI, sent twice.
	order := fmt.Appendf(nil, `{"gpu_type": %q, "hours": 1, "callback_url": %q}`, gpu, rc.URL+"/cb")
	h := signWithCLI(t, configPath, "/webhook/create-order", false, order)
	code, _, first := send(t, http.MethodPost, base+"/webhook/create-order", h, order)
	var queued struct {
		Status string `json:"status"`
		JobID  string `json:"job_id"`
	}
	if code != http.StatusAccepted || json.Unmarshal(first, &queued) != nil || queued.Status != "queued" || queued.JobID == "" {
		t.Fatalf("create-order = %d %s", code, first)
	}
	code, hdr, again := send(t, http.MethodPost, base+"/webhook/create-order", h, order)
	if code != http.StatusAccepted || !bytes.Equal(again, first) || hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("redelivery = %d %s (replayed %q); want the first answer", code, again, hdr.Get("Idempotent-Replayed"))
	}
	job := waitJob(t, base, queued.JobID)
	if job["state"] != commands.JobSucceeded {
		t.Fatalf("rent job ended %v", job)
	}
	result, _ := job["result"].(map[string]any)
	orderID, _ := result["id"].(float64) // the result of a rent is its order
	if orderID == 0 {
		t.Fatalf("no order id in the job's result: %v", job)
	}

	// status: answered at once, and the same answer to the callback.
	statusBody := fmt.Appendf(nil, `{"callback_url": %q}`, rc.URL+"/status-cb")
	code, _, status := send(t, http.MethodPost, base+"/webhook/status", signWithCLI(t, configPath, "/webhook/status", false, statusBody), statusBody)
	if code != http.StatusOK || !strings.Contains(string(status), strconv.Itoa(int(orderID))) {
		t.Fatalf("status = %d %s", code, status)
	}
	report := rc.waitTypes(t, "/status-cb", webhook.StatusReportEvent)
	var got struct {
		Data json.RawMessage `json:"data"`
	}
	if len(report) != 1 || json.Unmarshal(report[0].body, &got) != nil || !jsonEqual(got.Data, status) {
		t.Fatalf("status callback got %d deliveries: %s; want the answer %s", len(report), report[0].body, status)
	}
	cbHook, _ := standardwebhooks.NewWebhookRaw([]byte(e2eKeySecret))
	if err := cbHook.Verify(report[0].body, report[0].header); err != nil {
		t.Errorf("status callback does not verify: %v", err)
	}

	// extend through /webhook/command: from the order's current end, by
	// the renter (this key), announced as order.extended.
	extendBody := fmt.Appendf(nil, `{"text": "extend %d 2"}`, int64(orderID))
	code, _, body = send(t, http.MethodPost, base+"/webhook/command", signWithCLI(t, configPath, "/webhook/command", false, extendBody), extendBody)
	if code != http.StatusOK || !strings.Contains(string(body), "extended by 2 h") {
		t.Fatalf("extend = %d %s", code, body)
	}
	code, _, body = send(t, http.MethodPost, base+"/webhook/command", signWithCLI(t, configPath, "/webhook/command", false, []byte(`{"text": "extend 1 2"}`)), []byte(`{"text": "extend 1 2"}`))
	if code != http.StatusBadRequest || !strings.Contains(string(body), "no order #1 of yours") {
		t.Fatalf("extend of an unknown order = %d %s", code, body)
	}

	// cancel-order with the compatibility scheme (X-Webhook-Signature).
	cancelBody := fmt.Appendf(nil, `{"order_id": %d, "callback_url": %q}`, int64(orderID), rc.URL+"/cb")
	code, _, body = send(t, http.MethodPost, base+"/webhook/cancel-order", signWithCLI(t, configPath, "/webhook/cancel-order", true, cancelBody), cancelBody)
	if code != http.StatusAccepted || json.Unmarshal(body, &queued) != nil {
		t.Fatalf("cancel-order = %d %s", code, body)
	}
	if job := waitJob(t, base, queued.JobID); job["state"] != commands.JobSucceeded {
		t.Fatalf("cancel job ended %v", job)
	}

	lifecycle := []string{"order.created", "order.running", "order.cancelled", "job.completed"}
	sub := rc.waitTypes(t, "/sub", append(lifecycle, "order.extended")...)
	cb := rc.waitTypes(t, "/cb", append(lifecycle, commands.EventOrderConnection)...)
	// The connection details went to the callback only, and nowhere else.
	for _, d := range sub {
		if d.typ == commands.EventOrderConnection || strings.Contains(string(d.body), `"password"`) {
			t.Errorf("the subscriber got connection details: %s", d.body)
		}
	}
	for _, d := range cb {
		if d.typ == commands.EventOrderConnection && (!strings.Contains(string(d.body), `"ssh":{"user":`) || !strings.Contains(string(d.body), `"password":"`)) {
			t.Errorf("connection delivery lacks the SSH command or password: %s", d.body)
		}
	}
	subHook, _ := standardwebhooks.NewWebhook(e2eSubSecret)
	for _, check := range []struct {
		name string
		wh   *standardwebhooks.Webhook
		got  []receivedDelivery
	}{{"subscriber", subHook, sub}, {"callback", cbHook, cb}} {
		ids := map[string]bool{}
		for _, d := range check.got {
			if err := check.wh.Verify(d.body, d.header); err != nil {
				t.Errorf("%s delivery %s does not verify with the reference library: %v", check.name, d.typ, err)
			}
			if ids[d.header.Get("webhook-id")] {
				t.Errorf("%s got webhook-id %s twice", check.name, d.header.Get("webhook-id"))
			}
			ids[d.header.Get("webhook-id")] = true
			contract.LoadSchemas(t).Validate(t, "event.json", d.body) // a real delivery of a real serve
			if !strings.Contains(string(d.body), strconv.Itoa(int(orderID))) {
				t.Errorf("%s delivery %s does not name order %d: %s", check.name, d.typ, int64(orderID), d.body)
			}
		}
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}
