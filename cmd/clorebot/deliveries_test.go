package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/contract"
	"github.com/clorebot/clorebot/internal/metrics"
	"github.com/clorebot/clorebot/storage"
)

// deliveriesCLI parses args as `clorebot deliveries ...` and runs the command
// with an env on the configuration file configPath (cli.go registers the
// commands; this test covers them without it).
func deliveriesCLI(t *testing.T, configPath string, args ...string) (string, error) {
	t.Helper()
	var c struct {
		Deliveries deliveriesCmds `cmd:""`
	}
	var stdout, stderr bytes.Buffer
	parser, err := kong.New(&c, kong.Name("clorebot"), kong.Writers(&stdout, &stderr),
		kong.Exit(func(int) { t.Fatal("kong tried to exit") }))
	if err != nil {
		t.Fatalf("kong.New: %v", err)
	}
	kctx, err := parser.Parse(append([]string{"deliveries"}, args...))
	if err != nil {
		return "", &usageError{err}
	}
	e := &env{ctx: context.Background(), cli: &cli{Config: configPath}, stdout: &stdout, stderr: &stderr}
	err = kctx.Run(e)
	return stdout.String(), err
}

// deliveryReceiver answers /sub with subStatus and /cb with 200, and keeps
// every request.
type deliveryReceiver struct {
	*httptest.Server
	subStatus atomic.Int32
	mu        sync.Mutex
	got       []*http.Request
	bodies    [][]byte
}

func newDeliveryReceiver(t *testing.T) *deliveryReceiver {
	t.Helper()
	rc := &deliveryReceiver{}
	rc.subStatus.Store(http.StatusOK)
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got, rc.bodies = append(rc.got, r), append(rc.bodies, body)
		rc.mu.Unlock()
		if r.URL.Path == "/sub" {
			w.WriteHeader(int(rc.subStatus.Load()))
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

// to returns the requests to path and their bodies.
func (rc *deliveryReceiver) to(path string) ([]*http.Request, [][]byte) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var reqs []*http.Request
	var bodies [][]byte
	for i, r := range rc.got {
		if r.URL.Path == path {
			reqs, bodies = append(reqs, r), append(bodies, rc.bodies[i])
		}
	}
	return reqs, bodies
}

// writeDeliveryConfig writes a configuration with one subscriber and one
// webhook key, and returns its path.
func writeDeliveryConfig(t *testing.T, dir, subURL, subSecret, keySecret string) string {
	t.Helper()
	path := filepath.Join(dir, "clorebot.toml")
	conf := "[clore]\nsandbox = true\n" + storageConfig(t, dir) + `[[webhook.keys]]
name = "ci"
secret = "` + keySecret + `"
roles = ["renter"]
[[webhook.subscribers]]
url = "` + subURL + `"
secret = "` + subSecret + `"
events = ["order.created", "order.running"]
`
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The whole outbound path on a real database: a subscriber that is down
// until its deliveries are dead-lettered, listed, retried from the command
// line and then received once, with the webhook-id of the failed attempts;
// the callback signed with the key's secret; the metrics.
func TestDeliveriesEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	subSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("subscriber-secret-bytes"))
	const keySecret = "a raw key secret"
	rc := newDeliveryReceiver(t)
	rc.subStatus.Store(http.StatusServiceUnavailable)
	configPath := writeDeliveryConfig(t, dir, rc.URL+"/sub", subSecret, keySecret)

	e := &env{ctx: ctx, cli: &cli{Config: configPath}, stdout: io.Discard, stderr: io.Discard}
	cfg, err := e.load()
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	st, err := storage.OpenConfigAndMigrate(ctx, storageOptions(cfg))
	if err != nil {
		t.Fatalf("OpenAndMigrate: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	app := NewApp(cfg, slog.New(slog.DiscardHandler))
	app.store = st
	if _, err := app.newDispatcher(); err != nil {
		t.Fatalf("newDispatcher from the configuration: %v", err)
	}
	subs, keys, err := deliveryOptions(cfg)
	if err != nil {
		t.Fatalf("deliveryOptions: %v", err)
	}
	clock := time.Now()
	now := func() time.Time { return clock }
	m := metrics.New()
	d, err := webhook.NewDispatcher(webhook.DispatcherOptions{Store: st, Subscribers: subs, KeySecrets: keys,
		Observer: m.Deliveries(), Now: now, CallbackAllowPrivate: true}) // the receiver is on loopback
	if err != nil {
		t.Fatalf("NewDispatcher: %v", err)
	}

	// A webhook request's job with a callback_url emits two events.
	job, _, err := st.CreateJob(ctx, commands.Job{Kind: commands.JobRent, IdempotencyKey: "k1",
		State: commands.JobRunning, Platform: commands.PlatformWebhook, RequestedBy: "webhook:ci",
		ReplyTarget: rc.URL + "/cb"})
	if err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	o := storage.Order{ServerID: 1, State: commands.OrderRunning}
	if err := st.CreateOrder(ctx, &o); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	err = st.UpdateOrder(ctx, o, commands.Event{Type: "order.running", JobID: job.ID, Data: json.RawMessage(`{"order_id":1}`)},
		commands.Event{Type: "job.completed", JobID: job.ID})
	if err != nil {
		t.Fatalf("UpdateOrder: %v", err)
	}

	tick := func() {
		t.Helper()
		if err := d.Tick(ctx); err != nil {
			t.Fatalf("Tick: %v", err)
		}
	}
	tick()
	for _, delay := range webhook.DefaultSchedule()[1:] {
		clock = clock.Add(delay)
		tick()
	}
	cbReqs, cbBodies := rc.to("/cb")
	if len(cbReqs) != 2 {
		t.Fatalf("callback got %d requests, want order.running and job.completed once each", len(cbReqs))
	}
	for i, r := range cbReqs {
		wh, _ := standardwebhooks.NewWebhookRaw([]byte(keySecret))
		if err := wh.VerifyIgnoringTimestamp(cbBodies[i], r.Header); err != nil {
			t.Errorf("callback delivery does not verify with the key's secret: %v", err)
		}
	}
	subReqs, _ := rc.to("/sub")
	if len(subReqs) != len(webhook.DefaultSchedule()) {
		t.Fatalf("subscriber got %d attempts, want the whole schedule (job.completed is filtered out)", len(subReqs))
	}

	out, err := deliveriesCLI(t, configPath, "list", "--failed", "--json")
	if err != nil {
		t.Fatalf("list --failed: %v", err)
	}
	contract.LoadSchemas(t).ValidateLines(t, "deliveries.json", out)
	if all, err := deliveriesCLI(t, configPath, "list", "--json"); err != nil || contract.LoadSchemas(t).ValidateLines(t, "deliveries.json", all) < 3 {
		t.Fatalf("list --json: %v\n%s", err, all)
	}
	var row deliveryRow
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &row) != nil || row.State != "dead" ||
		row.EventType != "order.running" || row.Attempts != 10 || row.LastError == nil || *row.LastError != "HTTP 503" || row.Target != "subscriber" {
		t.Fatalf("list --failed --json:\n%s", out)
	}
	out, err = deliveriesCLI(t, configPath, "list")
	if err != nil || !strings.Contains(out, "callback (ci)") || strings.Count(out, "delivered") != 2 ||
		!strings.Contains(out, "dead") || strings.Contains(out, keySecret) {
		t.Fatalf("list: %v\n%s", err, out)
	}

	// The receiver recovers; the operator replays the dead letter.
	rc.subStatus.Store(http.StatusOK)
	if out, err = deliveriesCLI(t, configPath, "retry", "--all-failed"); err != nil || !strings.Contains(out, "1 failed deliveries") {
		t.Fatalf("retry --all-failed: %v\n%s", err, out)
	}
	tick()
	tick()
	subReqs, subBodies := rc.to("/sub")
	if len(subReqs) != len(webhook.DefaultSchedule())+1 || subReqs[len(subReqs)-1].Header.Get("webhook-id") != subReqs[0].Header.Get("webhook-id") {
		t.Fatalf("after the retry: %d requests; want one more with the same webhook-id", len(subReqs))
	}
	wh, _ := standardwebhooks.NewWebhook(subSecret)
	if err := wh.VerifyIgnoringTimestamp(subBodies[len(subBodies)-1], subReqs[len(subReqs)-1].Header); err != nil {
		t.Errorf("replayed delivery does not verify with the subscriber's secret: %v", err)
	}
	if out, _ := deliveriesCLI(t, configPath, "list", "--failed"); strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("failed deliveries left after the replay:\n%s", out)
	}

	var body bytes.Buffer
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body.Write(rec.Body.Bytes())
	for _, want := range []string{
		`clorebot_webhook_delivery_attempts_total{result="delivered",target="callback"} 2`,
		`clorebot_webhook_delivery_attempts_total{result="rejected",target="subscriber"} 10`,
		`clorebot_webhook_delivery_attempts_total{result="delivered",target="subscriber"} 1`,
		`clorebot_webhook_delivery_dead_letters_total{target="subscriber"} 1`,
		`clorebot_webhook_delivery_duration_seconds_count{target="subscriber"} 11`,
	} {
		if !strings.Contains(body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if m.Deliveries() == nil { // registering twice reuses the series
		t.Fatal("second Deliveries() returned nil")
	}
}

func TestDeliveriesRetryArguments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	configPath := writeDeliveryConfig(t, dir, "https://hooks.example/sub", "s", "k")
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"neither", []string{"retry"}, true, "one delivery ID or --all-failed"},
		{"both", []string{"retry", "3", "--all-failed"}, true, "one delivery ID or --all-failed"},
		{"not a number", []string{"retry", "three"}, true, ""},
		{"missing", []string{"retry", "404"}, false, "delivery 404 does not exist"},
		{"nothing failed", []string{"retry", "--all-failed"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := deliveriesCLI(t, configPath, tt.args...)
			var ue *usageError
			if errors.As(err, &ue) != tt.usage {
				t.Fatalf("err = %v; usage error %v wanted", err, tt.usage)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want one naming %q", err, tt.want)
			}
			if tt.name == "nothing failed" && (err != nil || !strings.HasPrefix(out, "0 failed deliveries")) {
				t.Fatalf("retry --all-failed on nothing: %v %q", err, out)
			}
		})
	}
}

func TestDeliveriesRetryOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	configPath := writeDeliveryConfig(t, dir, "https://hooks.example/sub", "s", "k")
	st, err := storage.OpenAndMigrate(ctx, testDB(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o := storage.Order{ServerID: 1, State: commands.OrderRunning}
	if err := st.CreateOrder(ctx, &o); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateOrder(ctx, o, commands.Event{Type: "order.created"}, commands.Event{Type: "order.running"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	_, err = st.EnqueueDeliveries(ctx, 2, []commands.NewDelivery{
		{EventID: 1, URL: "https://user:pw@hooks.example/a?token=x", SecretRef: "subscriber:x", MessageID: "msg_dead"},
		{EventID: 2, URL: "https://hooks.example/b", SecretRef: "subscriber:x", MessageID: "msg_ok"},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := st.ListDeliveries(ctx, storage.DeliveryFilter{})
	ids := map[string]int64{}
	for _, d := range ds {
		ids[d.MessageID] = d.ID
	}
	for id, a := range map[int64]commands.DeliveryAttempt{
		ids["msg_dead"]: {At: now, Status: 500, Error: "HTTP 500", State: commands.DeliveryDead},
		ids["msg_ok"]:   {At: now, Status: 200, State: commands.DeliveryDelivered},
	} {
		a.ID = id
		if err := st.RecordDeliveryAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
	}

	out, err := deliveriesCLI(t, configPath, "list")
	if err != nil || strings.Contains(out, ":pw@") || !strings.Contains(out, "HTTP 500") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if _, err := deliveriesCLI(t, configPath, "retry", "2"); err == nil || !strings.Contains(err.Error(), "delivered already") {
		t.Fatalf("retry of a delivered delivery: %v", err)
	}
	out, err = deliveriesCLI(t, configPath, "retry", "1")
	if err != nil || !strings.Contains(out, "delivery 1 is due now") {
		t.Fatalf("retry 1: %v %q", err, out)
	}
	d, err := st.GetDelivery(ctx, ids["msg_dead"])
	if err != nil || d.State != commands.DeliveryPending || d.Attempts != 0 || d.MessageID != "msg_dead" {
		t.Fatalf("after retry: %+v, %v; want pending afresh with its message id", d, err)
	}
	out, err = deliveriesCLI(t, configPath, "list", "--json", "--limit", "1")
	var rows []deliveryRow
	for line := range strings.Lines(out) {
		var r deliveryRow
		if json.Unmarshal([]byte(line), &r) == nil {
			rows = append(rows, r)
		}
	}
	if err != nil || len(rows) != 1 || rows[0].ID != ids["msg_ok"] || rows[0].NextAt != nil || rows[0].DeliveredAt == nil {
		t.Fatalf("list --json --limit 1: %v\n%s", err, out)
	}
}
