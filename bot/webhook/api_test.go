package webhook_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/contract"
	"github.com/clorebot/clorebot/internal/httpserver"
	"github.com/clorebot/clorebot/storage"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// storage.Store is the durable dedup store serve uses.
var _ webhook.DedupStore = (*storage.Store)(nil)

// harness is the webhook API over a real command layer, real SQLite and the
// sandbox reached through the real Clore client on loopback.
type harness struct {
	t       *testing.T
	dbPath  string
	store   *storage.Store
	sb      *sandbox.Server
	client  *clore.Client
	svc     *commands.Service
	api     *webhook.API
	handler http.Handler
	secrets map[string]string // key name -> configured secret
	clock   *clock
}

// clock is the API's clock: the wall clock plus an offset tests can move.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
	frozen time.Time // when set, the clock stands still there (plus offset)
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen.Add(c.offset)
	}
	return time.Now().Add(c.offset)
}

// Freeze stops the clock, so that rate limits do not refill while a slow
// machine runs a test.
func (c *clock) Freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen = time.Now()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// testPolicy: zapier and cron rent, watcher views, ops administers, and
// keys in no list (nobody) get no role.
func testPolicy() commands.Policy {
	return commands.Policy{
		Admins: []string{"webhook:ops"}, Renters: []string{"webhook:zapier", "webhook:cron"},
		Viewers: []string{"webhook:watcher"}, DefaultRole: commands.RoleNone,
		MaxPricePerHour: 5, MaxOrdersPerHour: 100, MaxActiveOrders: 10, MaxTeamActiveOrders: 20,
		MaxHourlySpend: 100, DefaultHours: 4, MaxHours: 168, MinReliability: 0.5,
	}
}

func whsec() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// marketServers is the size of the harness's sandbox market: enough for
// every model the tests rent or look at, and a seventh of the sandbox's
// default 2,000, whose decoding under the race detector dominated the
// package's CPU (the marketplace decode's cost is measured in clore's
// benchmarks).
const marketServers = 300

// newHarness builds the API; opts adjust its options and the policy.
func newHarness(t *testing.T, opts ...func(*webhook.APIOptions, *commands.Policy)) *harness {
	t.Helper()
	return newHarnessWarm(t, true, opts...)
}

// newHarnessWarm builds the API with (warm) or without the start-up refresh
// of the marketplace and orders snapshots.
func newHarnessWarm(t *testing.T, warm bool, opts ...func(*webhook.APIOptions, *commands.Policy)) *harness {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	h := &harness{t: t, dbPath: storagetest.At(t, filepath.Join(dir, "clorebot.db")), clock: &clock{}}
	st := openStore(t, h.dbPath)
	h.store = st
	sb, err := sandbox.New(sandbox.Options{StatePath: filepath.Join(dir, "sandbox.db"), APIKey: "k",
		Servers: marketServers, ProvisionDelay: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(func() { ts.Close(); sb.Close() })
	h.sb = sb
	h.client = clore.New(clore.Options{BaseURL: ts.URL + "/v1", APIKey: "k", Interval: time.Millisecond,
		CreateInterval: time.Millisecond, MaxRetries: 2, Backoff: time.Millisecond, Slots: st})

	h.secrets = map[string]string{"zapier": whsec(), "cron": "plain-cron-secret-0123456789",
		"watcher": whsec(), "ops": whsec(), "nobody": whsec()}
	var keys []webhook.Key
	for _, name := range []string{"zapier", "cron", "watcher", "ops", "nobody"} {
		k, err := webhook.ConfiguredKey(name, h.secrets[name])
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	policy := testPolicy()
	o := webhook.APIOptions{Keys: keys, LegacySignatures: true, Dedup: st, AtomicIntake: true, Connections: st, Now: h.clock.Now}
	for _, f := range opts {
		f(&o, &policy)
	}
	h.svc = commands.New(commands.Options{Store: st, Clore: h.client, Policy: policy, Notifier: webhook.CallbackNotifier{Store: st},
		PollInterval: 50 * time.Millisecond, ReconcileWindow: 400 * time.Millisecond, ProvisionTimeout: 20 * time.Second})
	// What serve's refresh loop does at start: requests answer from these snapshots.
	if warm {
		if err := errors.Join(h.svc.RefreshMarket(ctx), h.svc.RefreshOrders(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	o.Service = h.svc
	h.api = webhook.NewAPI(o)
	srv := httpserver.New(httpserver.Options{})
	h.api.Mount(srv)
	h.handler = srv.Handler()
	return h
}

// openStore opens a new migrated database at path (on SQLite a copy of one
// migrated once, then OpenAndMigrate, which finds nothing left to apply; on
// PostgreSQL path is the URL storagetest.At gave) and closes it when the
// test ends.
func openStore(t testing.TB, path string) *storage.Store {
	t.Helper()
	if !storagetest.Postgres() {
		storagetest.CopyTemplate(t, path, migrateAt)
	}
	st, err := storage.OpenAndMigrate(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// secret returns the parsed Standard Webhooks key of a key name.
func (h *harness) secret(name string) []byte {
	h.t.Helper()
	k, err := webhook.ParseSecret(h.secrets[name])
	if err != nil {
		h.t.Fatal(err)
	}
	return k
}

// request builds an unsigned request with a JSON content type for POSTs.
func request(method, path string, body []byte) *http.Request {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
	}
	r.RemoteAddr = "192.0.2.10:4711"
	return r
}

// signed builds a request signed by key with a fresh message id.
func (h *harness) signed(method, path, key string, body []byte) *http.Request {
	return h.signedID(method, path, key, webhook.NewMessageID(), body)
}

func (h *harness) signedID(method, path, key, id string, body []byte) *http.Request {
	r := request(method, path, body)
	for k, v := range webhook.SignedHeaders(h.secret(key), id, h.clock.Now(), body) {
		r.Header[k] = v
	}
	return r
}

// response is an answer read back.
type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (r response) str(field string) string {
	s, _ := r.body[field].(string)
	return s
}

// do serves r in process. Every answer of a documented route is checked
// against docs/openapi.yaml (and so against docs/schema): whatever a test
// sends, the answer keeps the published contract.
func (h *harness) do(r *http.Request) response {
	h.t.Helper()
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	api := contract.LoadOpenAPI(h.t)
	if _, _, ok := api.Route(r); ok {
		if err := api.CheckResponse(r, w.Code, w.Header(), w.Body.Bytes()); err != nil {
			h.t.Errorf("the answer to %s %s breaks docs/openapi.yaml: %v\nanswer %d: %s", r.Method, r.URL.Path, err, w.Code, w.Body.Bytes())
		}
	}
	return readResponse(h.t, w.Code, w.Header(), w.Body.Bytes())
}

func readResponse(t *testing.T, status int, header http.Header, raw []byte) response {
	t.Helper()
	resp := response{status: status, header: header, raw: string(raw)}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("answer %d has Content-Type %q, want application/json: %s", status, ct, raw)
	}
	if err := json.Unmarshal(raw, &resp.body); err != nil {
		t.Errorf("answer %d is not a JSON object: %q", status, raw)
	}
	return resp
}

// count counts the rows of a table straight from the database.
func (h *harness) count(table string) int {
	h.t.Helper()
	db := storagetest.OpenSQL(h.t, h.dbPath)
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		h.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// createOrderCalls counts the create_order requests the sandbox answered.
func (h *harness) createOrderCalls() int {
	n := 0
	for _, rec := range h.sb.Requests() {
		if rec.Endpoint == "create_order" {
			n++
		}
	}
	return n
}

func TestCreateOrderQueuesAJobAndShowsItsState(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	body := []byte(`{"gpu_type":"rtx3090","max_price":4.5,"hours":2,"callback_url":"https://hooks.example.com/clore"}`)
	resp := h.do(h.signed("POST", "/webhook/create-order", "zapier", body))
	if resp.status != http.StatusAccepted || resp.str("status") != "queued" || resp.str("job_id") == "" ||
		!strings.Contains(resp.str("message"), "RTX 3090") {
		t.Fatalf("create-order = %d %s", resp.status, resp.raw)
	}
	jobID := resp.str("job_id")
	job, err := h.store.GetJob(ctx, jobID)
	if err != nil || job.RequestedBy != "webhook:zapier" || job.Platform != "webhook" ||
		job.ReplyTarget != "https://hooks.example.com/clore" || !strings.HasPrefix(job.IdempotencyKey, "webhook:zapier:msg_") {
		t.Fatalf("job = %+v, %v", job, err)
	}

	get := func(key string) response { return h.do(h.signed("GET", "/webhook/jobs/"+jobID, key, nil)) }
	if st := get("zapier"); st.status != 200 || st.str("state") != "queued" || st.str("kind") != "rent" || st.body["result"] != nil {
		t.Fatalf("job while queued = %d %s", st.status, st.raw)
	}
	if _, err := h.svc.RunJob(ctx, jobID); err != nil {
		t.Fatal(err)
	}
	st := get("zapier")
	result, _ := st.body["result"].(map[string]any)
	if st.status != 200 || st.str("state") != "succeeded" || result["id"] == nil || strings.Contains(st.raw, "assword") {
		t.Fatalf("job after run = %d %s", st.status, st.raw)
	}
	if other := get("cron"); other.status != http.StatusNotFound || !strings.Contains(other.str("error"), "no job "+jobID) {
		t.Errorf("another key reads the job: %d %s", other.status, other.raw)
	}
	if admin := get("ops"); admin.status != 200 || admin.str("state") != "succeeded" {
		t.Errorf("admin key reads the job: %d %s", admin.status, admin.raw)
	}
	if unknown := h.do(h.signed("GET", "/webhook/jobs/nosuchjob", "ops", nil)); unknown.status != http.StatusNotFound {
		t.Errorf("unknown job: %d %s", unknown.status, unknown.raw)
	}
	if h.createOrderCalls() != 1 {
		t.Errorf("%d create_order calls, want 1", h.createOrderCalls())
	}
}

func TestDuplicateDeliveryGetsTheFirstAnswer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := []byte(`{"gpu_type":"3090"}`)
	first := h.do(h.signedID("POST", "/webhook/create-order", "zapier", "msg_dup1", body))
	again := h.do(h.signedID("POST", "/webhook/create-order", "zapier", "msg_dup1", body))
	if first.status != http.StatusAccepted || again.status != first.status || again.raw != first.raw {
		t.Fatalf("first %d %s, duplicate %d %s", first.status, first.raw, again.status, again.raw)
	}
	if first.header.Get("Idempotent-Replayed") != "" || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("Idempotent-Replayed: first %q, duplicate %q", first.header.Get("Idempotent-Replayed"), again.header.Get("Idempotent-Replayed"))
	}
	// The same id with another body, or on another route: refused, nothing run.
	other := h.do(h.signedID("POST", "/webhook/create-order", "zapier", "msg_dup1", []byte(`{"gpu_type":"4090"}`)))
	route := h.do(h.signedID("POST", "/webhook/command", "zapier", "msg_dup1", []byte(`{"text":"help"}`)))
	for _, r := range []response{other, route} {
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.str("error"), "webhook-id: already used") {
			t.Errorf("reused id = %d %s", r.status, r.raw)
		}
	}
	// The same id under another key is another message.
	if r := h.do(h.signedID("POST", "/webhook/create-order", "cron", "msg_dup1", body)); r.status != http.StatusAccepted || r.str("job_id") == first.str("job_id") {
		t.Errorf("other key, same id = %d %s", r.status, r.raw)
	}
	if n := h.count("jobs"); n != 2 {
		t.Errorf("%d jobs, want 2", n)
	}
	// Refusals are answered the same way again: a denied rent is recorded too.
	deny := []byte(`{"gpu_type":"3090","max_price":7}`)
	d1 := h.do(h.signedID("POST", "/webhook/create-order", "zapier", "msg_deny", deny))
	d2 := h.do(h.signedID("POST", "/webhook/create-order", "zapier", "msg_deny", deny))
	if d1.status != http.StatusForbidden || d2.raw != d1.raw || d2.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("denied twice = %d %s / %d %s", d1.status, d1.raw, d2.status, d2.raw)
	}
}

// 50 concurrent deliveries of one signed request over real HTTP, with the
// default rate limits: one answer, one job, one order.
func TestConcurrentDeliveriesMakeOneJobAndOneOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *webhook.APIOptions, _ *commands.Policy) {
		o.RatePerMinute, o.IPRatePerMinute = 60, 120
	})
	srv := httptest.NewServer(h.handler)
	t.Cleanup(srv.Close)
	body := []byte(`{"gpu_type":"RTX 3090","count":1,"use_spot":false,"hours":1}`)
	signed := h.signedID("POST", "/webhook/create-order", "zapier", webhook.NewMessageID(), body)

	type result struct {
		status   int
		body     string
		replayed bool
	}
	results := make(chan result, 50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", srv.URL+"/webhook/create-order", bytes.NewReader(body))
			req.Header = signed.Header.Clone()
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			results <- result{resp.StatusCode, string(b), resp.Header.Get("Idempotent-Replayed") == "true"}
		})
	}
	wg.Wait()
	close(results)
	var answers []result
	fresh := 0
	for r := range results {
		answers = append(answers, r)
		if !r.replayed {
			fresh++
		}
	}
	if len(answers) != 50 || fresh != 1 {
		t.Fatalf("%d answers, %d not replayed; want 50 and 1", len(answers), fresh)
	}
	for _, r := range answers {
		if r.status != http.StatusAccepted || r.body != answers[0].body {
			t.Fatalf("answers differ: %d %s vs %d %s", r.status, r.body, answers[0].status, answers[0].body)
		}
	}
	var queued struct {
		JobID string `json:"job_id"`
	}
	if err := json.Unmarshal([]byte(answers[0].body), &queued); err != nil || queued.JobID == "" {
		t.Fatalf("answer %s: %v", answers[0].body, err)
	}
	if n := h.count("jobs"); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
	if job, err := h.svc.RunJob(context.Background(), queued.JobID); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("job = %+v, %v", job, err)
	}
	orders, err := h.client.MyOrders(context.Background(), true)
	if err != nil || len(orders) != 1 || h.createOrderCalls() != 1 {
		t.Fatalf("%d orders at Clore, %d create_order calls (%v); want 1 and 1", len(orders), h.createOrderCalls(), err)
	}
}

func TestCompatibilitySignatures(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := []byte(`{"text":"market 3090"}`)
	legacy := []byte(h.secrets["cron"])
	ts := h.clock.Now()
	tests := []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"sha256= prefix", map[string]string{"X-Webhook-Signature": webhook.SignLegacy(legacy, nil, body)}, 200},
		{"bare hex", map[string]string{"X-Webhook-Signature": strings.TrimPrefix(webhook.SignLegacy(legacy, nil, body), "sha256=")}, 200},
		{"with timestamp", map[string]string{"X-Webhook-Signature": webhook.SignLegacy(legacy, &ts, body),
			"X-Webhook-Timestamp": strconv.FormatInt(ts.Unix(), 10)}, 200},
		{"timestamp not signed", map[string]string{"X-Webhook-Signature": webhook.SignLegacy(legacy, nil, body),
			"X-Webhook-Timestamp": strconv.FormatInt(ts.Unix(), 10)}, 401},
		// A whsec_ secret's compatibility key is the string as written.
		{"whsec string as written", map[string]string{"X-Webhook-Signature": webhook.SignLegacy([]byte(h.secrets["watcher"]), nil, body)}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request("POST", "/webhook/command", body)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if resp := h.do(r); resp.status != tt.status {
				t.Errorf("%d %s, want %d", resp.status, resp.raw, tt.status)
			}
		})
	}

	// Idempotency-Key deduplicates compatibility requests.
	create := []byte(`{"gpu_type":"3090"}`)
	send := func(key string) response {
		r := request("POST", "/webhook/create-order", create)
		r.Header.Set("X-Webhook-Signature", webhook.SignLegacy(legacy, nil, create))
		r.Header.Set("Idempotency-Key", key)
		return h.do(r)
	}
	a, b := send("order-42"), send("order-42")
	if a.status != 202 || b.raw != a.raw || b.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("Idempotency-Key twice = %d %s / %d %s", a.status, a.raw, b.status, b.raw)
	}
	job, err := h.store.GetJob(context.Background(), a.str("job_id"))
	if err != nil || job.IdempotencyKey != "webhook:cron:order-42" || job.RequestedBy != "webhook:cron" {
		t.Fatalf("job = %+v, %v", job, err)
	}
	// A timestamped request without Idempotency-Key is one message too.
	r1 := request("POST", "/webhook/create-order", create)
	r1.Header.Set("X-Webhook-Signature", webhook.SignLegacy(legacy, &ts, create))
	r1.Header.Set("X-Webhook-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	r2 := r1.Clone(context.Background())
	r2.Body = io.NopCloser(bytes.NewReader(create))
	if x, y := h.do(r1), h.do(r2); x.status != 202 || y.raw != x.raw || y.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("timestamped replay = %d %s / %d %s", x.status, x.raw, y.status, y.raw)
	}

	// Switched off: the compatibility scheme is refused.
	off := newHarness(t, func(o *webhook.APIOptions, _ *commands.Policy) { o.LegacySignatures = false })
	r := request("POST", "/webhook/command", body)
	r.Header.Set("X-Webhook-Signature", webhook.SignLegacy([]byte(off.secrets["cron"]), nil, body))
	if resp := off.do(r); resp.status != 401 || !strings.Contains(resp.str("error"), "webhook-signature: missing") {
		t.Errorf("legacy switched off = %d %s", resp.status, resp.raw)
	}
}

// Several signatures in one header, as during a key rotation: any v1 match passes.
func TestKeyRotationSignatures(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := []byte(`{"text":"help"}`)
	r := h.signed("POST", "/webhook/command", "zapier", body)
	good := r.Header.Get("webhook-signature")
	r.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32))+" "+good+" v2,abc")
	if resp := h.do(r); resp.status != 200 || resp.str("status") != "ok" {
		t.Fatalf("rotation = %d %s", resp.status, resp.raw)
	}
}

func TestPriceAlertStatusCancelAndCommand(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()

	alert := h.do(h.signed("POST", "/webhook/price-alert", "zapier",
		[]byte(`{"gpu_type":"4090","target_price":0.35,"auto_rent":true,"image":"nvidia/cuda:12.4.1-base-ubuntu22.04",
			"hours":2.5,"use_spot":true,"ssh_key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE ci@example"}`)))
	if alert.status != http.StatusCreated || alert.str("status") != "ok" || !strings.Contains(alert.str("title"), "Watch #") {
		t.Fatalf("price-alert = %d %s", alert.status, alert.raw)
	}
	watches, err := h.store.ListWatches(ctx, "webhook:zapier", commands.WatchActive)
	want := commands.WatchRent{Image: "nvidia/cuda:12.4.1-base-ubuntu22.04", Hours: 2.5, Spot: true, SSHKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE ci@example"}
	if err != nil || len(watches) != 1 || watches[0].GPUModel != "RTX 4090" || watches[0].MaxUSDPerGPU != 0.35 || watches[0].Rent != want || !watches[0].AutoRent {
		t.Fatalf("watches = %+v, %v", watches, err)
	}
	if r := h.do(h.signed("POST", "/webhook/price-alert", "zapier", []byte(`{"gpu_type":"4090","target_price":0.35,"hours":9999}`))); r.status != 400 ||
		!strings.Contains(r.str("error"), "hours") {
		t.Errorf("price-alert with hours beyond the maximum = %d %s", r.status, r.raw)
	}
	if denied := h.do(h.signed("POST", "/webhook/price-alert", "watcher", []byte(`{"gpu_type":"4090","target_price":0.35}`))); denied.status != http.StatusForbidden ||
		!strings.Contains(denied.str("error"), "renter") {
		t.Errorf("viewer price-alert = %d %s", denied.status, denied.raw)
	}

	rent := h.do(h.signed("POST", "/webhook/command", "zapier", []byte(`{"text":"rent 3090 --hours 1"}`)))
	if rent.status != http.StatusAccepted {
		t.Fatalf("command rent = %d %s", rent.status, rent.raw)
	}
	if _, err := h.svc.RunJob(ctx, rent.str("job_id")); err != nil {
		t.Fatal(err)
	}
	status := h.do(h.signed("POST", "/webhook/status", "zapier", nil))
	fields, _ := status.body["fields"].([]any)
	if status.status != 200 || len(fields) != 1 || !strings.Contains(status.raw, "running") {
		t.Fatalf("status = %d %s", status.status, status.raw)
	}
	orders, _ := h.client.MyOrders(ctx, false)
	if len(orders) != 1 {
		t.Fatalf("orders = %+v", orders)
	}
	cancelBody := []byte(fmt.Sprintf(`{"order_id":%d}`, orders[0].ID))
	if other := h.do(h.signed("POST", "/webhook/cancel-order", "cron", cancelBody)); other.status != http.StatusForbidden {
		t.Errorf("another renter cancels = %d %s", other.status, other.raw)
	}
	cancel := h.do(h.signed("POST", "/webhook/cancel-order", "zapier", cancelBody))
	if cancel.status != http.StatusAccepted || cancel.str("status") != "queued" {
		t.Fatalf("cancel-order = %d %s", cancel.status, cancel.raw)
	}
	if job, err := h.svc.RunJob(ctx, cancel.str("job_id")); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("cancel job = %+v, %v", job, err)
	}
	market := h.do(h.signed("POST", "/webhook/command", "watcher", []byte(`{"text":"market 4090"}`)))
	if market.status != 200 || !strings.Contains(market.raw, "RTX 4090") {
		t.Errorf("command market = %d %s", market.status, market.raw)
	}
	if none := h.do(h.signed("POST", "/webhook/command", "nobody", []byte(`{"text":"market"}`))); none.status != http.StatusForbidden {
		t.Errorf("key without a role = %d %s", none.status, none.raw)
	}
}

func TestRentAboveConfirmThresholdAwaitsConfirmation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *webhook.APIOptions, p *commands.Policy) { p.ConfirmAbove = 0.01 })
	resp := h.do(h.signed("POST", "/webhook/create-order", "zapier", []byte(`{"gpu_type":"3090"}`)))
	if resp.status != http.StatusAccepted || resp.str("status") != "awaiting_confirmation" || resp.str("job_id") == "" {
		t.Fatalf("create-order = %d %s", resp.status, resp.raw)
	}
	id := resp.str("job_id")
	job := h.do(h.signed("GET", "/webhook/jobs/"+id, "zapier", nil))
	if job.status != 200 || job.str("state") != "awaiting_confirmation" {
		t.Fatalf("job = %d %s", job.status, job.raw)
	}
	if !strings.Contains(resp.raw, "/webhook/jobs/"+id+"/confirm") {
		t.Errorf("the answer does not say how to confirm: %s", resp.raw)
	}

	// Another renter key may not confirm; a bad id is refused; nothing rents.
	confirm := func(key, id string) response {
		return h.do(h.signed("POST", "/webhook/jobs/"+id+"/confirm", key, []byte(`{"job_id":"`+id+`"}`)))
	}
	if got := confirm("cron", id); got.status != http.StatusForbidden {
		t.Fatalf("confirm by another key = %d %s", got.status, got.raw)
	}
	// The body names the job it confirms: an empty one, or another job, is refused.
	empty := h.signed("POST", "/webhook/jobs/"+id+"/confirm", "zapier", nil)
	empty.Header.Del("Content-Type")
	if got := h.do(empty); got.status != http.StatusBadRequest || !strings.Contains(got.str("error"), "job_id: required") {
		t.Fatalf("confirm without a body = %d %s", got.status, got.raw)
	}
	other := h.signed("POST", "/webhook/jobs/"+id+"/confirm", "zapier", []byte(`{"job_id":"someotherjob"}`))
	if got := h.do(other); got.status != http.StatusBadRequest || !strings.Contains(got.str("error"), "is not the job of the path") {
		t.Fatalf("confirm naming another job = %d %s", got.status, got.raw)
	}
	if got := confirm("zapier", "no-such-job"); got.status != http.StatusBadRequest || !strings.Contains(got.str("error"), "unknown or expired") {
		t.Fatalf("confirm of an unknown job = %d %s", got.status, got.raw)
	}
	if n := h.createOrderCalls(); n != 0 {
		t.Fatalf("%d create_order calls before the confirmation", n)
	}

	// The requester confirms: the rent runs, once, even if the confirmation
	// is sent again with a new id.
	if got := confirm("zapier", id); got.status != http.StatusAccepted || got.str("status") != "queued" || got.str("job_id") != id {
		t.Fatalf("confirm = %d %s", got.status, got.raw)
	}
	if got := confirm("zapier", id); got.status != http.StatusOK || !strings.Contains(got.raw, "already") {
		t.Fatalf("second confirm = %d %s", got.status, got.raw)
	}
	if _, err := h.svc.RunJob(context.Background(), id); err != nil {
		t.Fatalf("RunJob: %v", err)
	}
	if j, _ := h.store.GetJob(context.Background(), id); j.State != commands.JobSucceeded {
		t.Fatalf("confirmed job ended %s: %s", j.State, j.Error)
	}
	if n := h.createOrderCalls(); n != 1 {
		t.Fatalf("%d create_order calls after the confirmation, want 1", n)
	}
}

func TestMarketplaceSignedOrPublic(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resp := h.do(h.signed("GET", "/webhook/marketplace", "watcher", nil))
	models, _ := resp.body["models"].([]any)
	if resp.status != 200 || len(models) < 10 || !strings.Contains(resp.raw, `"cheapest_on_demand"`) {
		t.Fatalf("signed marketplace = %d %.300s", resp.status, resp.raw)
	}
	if unsigned := h.do(request("GET", "/webhook/marketplace", nil)); unsigned.status != 401 {
		t.Errorf("unsigned marketplace = %d %s", unsigned.status, unsigned.raw)
	}
	if none := h.do(h.signed("GET", "/webhook/marketplace", "nobody", nil)); none.status != 403 {
		t.Errorf("key without a role = %d %s", none.status, none.raw)
	}
	public := newHarness(t, func(o *webhook.APIOptions, _ *commands.Policy) { o.PublicMarketplace = true })
	if resp := public.do(request("GET", "/webhook/marketplace", nil)); resp.status != 200 {
		t.Errorf("public marketplace = %d %.200s", resp.status, resp.raw)
	}
	// Only the marketplace is public.
	if resp := public.do(request("GET", "/webhook/jobs/abc", nil)); resp.status != 401 {
		t.Errorf("public jobs = %d %s", resp.status, resp.raw)
	}
}

func TestRateLimitsPerKeyAndAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *webhook.APIOptions, _ *commands.Policy) { o.RatePerMinute, o.IPRatePerMinute = 3, 5 })
	h.clock.Freeze()
	help := []byte(`{"text":"help"}`)
	for i := range 3 {
		if r := h.do(h.signed("POST", "/webhook/command", "zapier", help)); r.status != 200 {
			t.Fatalf("request %d = %d %s", i, r.status, r.raw)
		}
	}
	r := h.do(h.signed("POST", "/webhook/command", "zapier", help))
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "20" || !strings.Contains(r.str("error"), "key zapier") {
		t.Fatalf("4th request of the key = %d %v %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	// Another key from the same address has its own limit: signed requests
	// never count against the address.
	for i := range 3 {
		if r := h.do(h.signed("POST", "/webhook/command", "cron", help)); r.status != 200 {
			t.Fatalf("other key's request %d = %d %s", i, r.status, r.raw)
		}
	}
	// Failed authentication counts against the address.
	for i := range 5 {
		if r := h.do(request("POST", "/webhook/command", help)); r.status != http.StatusUnauthorized {
			t.Fatalf("unsigned request %d = %d %s", i, r.status, r.raw)
		}
	}
	r = h.do(request("POST", "/webhook/command", help))
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !strings.Contains(r.str("error"), "address 192.0.2.10") {
		t.Fatalf("6th unsigned request of the address = %d %s", r.status, r.raw)
	}
	// Another address is not limited by this one.
	other := request("POST", "/webhook/command", help)
	other.RemoteAddr = "198.51.100.7:1000"
	if r := h.do(other); r.status != http.StatusUnauthorized {
		t.Fatalf("other address = %d %s", r.status, r.raw)
	}
	// Buckets refill with time.
	h.clock.Advance(time.Minute)
	if r := h.do(h.signed("POST", "/webhook/command", "zapier", help)); r.status != 200 {
		t.Fatalf("after a minute = %d %s", r.status, r.raw)
	}
}

func TestDedupRecordsArePurgedAfterTheWindow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *webhook.APIOptions, _ *commands.Policy) { o.DedupWindow = time.Hour })
	body := []byte(`{"text":"help"}`)
	if r := h.do(h.signedID("POST", "/webhook/command", "zapier", "msg_purge", body)); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if n, err := h.api.PurgeDedup(context.Background()); err != nil || n != 0 {
		t.Fatalf("purge within the window = %d, %v", n, err)
	}
	h.clock.Advance(61 * time.Minute)
	if n, err := h.api.PurgeDedup(context.Background()); err != nil || n != 1 || h.count("webhook_requests") != 0 {
		t.Fatalf("purge after the window = %d, %v", n, err)
	}
}

func TestConfiguredKeyNeverQuotesTheSecret(t *testing.T) {
	_, err := webhook.ConfiguredKey("k", "whsec_not*base64")
	if err == nil || strings.Contains(err.Error(), "not*base64") {
		t.Fatalf("err = %v", err)
	}
	k, err := webhook.ConfiguredKey("k", "plain")
	if err != nil || string(k.Secret) != "plain" || string(k.Legacy) != "plain" || k.Name != "k" {
		t.Fatalf("key = %+v, %v", k, err)
	}
}

// A timestamped compatibility request replayed with a new Idempotency-Key
// (which its signature does not cover) is still the same request.
func TestLegacyReplayWithAnotherIdempotencyKeyIsADuplicate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := []byte(`{"gpu_type":"RTX 3090","hours":1}`)
	ts := h.clock.Now()
	key, _ := webhook.ConfiguredKey("cron", h.secrets["cron"])
	var first response
	for i := range 3 {
		r := request("POST", "/webhook/create-order", body)
		r.Header.Set("X-Webhook-Timestamp", strconv.FormatInt(ts.Unix(), 10))
		r.Header.Set("X-Webhook-Signature", webhook.SignLegacy(key.Legacy, &ts, body))
		r.Header.Set("Idempotency-Key", fmt.Sprintf("attacker-%d", i))
		resp := h.do(r)
		if i == 0 {
			first = resp
			if resp.status != http.StatusAccepted {
				t.Fatalf("first = %d %s", resp.status, resp.raw)
			}
			continue
		}
		if resp.status != first.status || resp.raw != first.raw || resp.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay %d = %d %s; want the first answer, replayed", i, resp.status, resp.raw)
		}
	}
	if n := h.count("jobs"); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
}

// A failure that is not the request's fault answers 503 and is not
// remembered: the same delivery, retried, is processed afresh. Before the
// first marketplace refresh (Clore down at start) intake answers 503 with a
// short Retry-After at once, without calling Clore.
func TestTemporaryFailureIsNotCached(t *testing.T) {
	t.Parallel()
	h := newHarnessWarm(t, false)
	for range 3 { // the first try and the client's two retries
		h.sb.InjectNext("marketplace", http.StatusInternalServerError, `{"code":1}`)
	}
	if err := h.svc.RefreshMarket(context.Background()); err == nil {
		t.Fatal("refresh with Clore down succeeded")
	}
	body := []byte(`{"gpu_type":"RTX 3090","hours":1}`)
	id := webhook.NewMessageID()
	resp := h.do(h.signedID("POST", "/webhook/create-order", "zapier", id, body))
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") != strconv.Itoa(commands.WarmingUpRetryAfter) ||
		!strings.Contains(resp.raw, "warming up") {
		t.Fatalf("with Clore down = %d %s (Retry-After %q); want 503 warming up with Retry-After", resp.status, resp.raw, resp.header.Get("Retry-After"))
	}
	if resp := h.do(h.signed("GET", "/webhook/marketplace", "zapier", nil)); resp.status != http.StatusServiceUnavailable ||
		resp.header.Get("Retry-After") == "" {
		t.Fatalf("marketplace while warming up = %d %s", resp.status, resp.raw)
	}
	if err := h.svc.RefreshMarket(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp = h.do(h.signedID("POST", "/webhook/create-order", "zapier", id, body))
	if resp.status != http.StatusAccepted || resp.header.Get("Idempotent-Replayed") == "true" {
		t.Fatalf("retry after Clore is back = %d %s", resp.status, resp.raw)
	}
	if n := h.count("jobs"); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
}

// migrateAt migrates a new database at path and closes it: the template
// storagetest.CopyTemplate copies.
func migrateAt(path string) error {
	st, err := storage.OpenAndMigrate(context.Background(), path)
	if err != nil {
		return err
	}
	return st.Close()
}
