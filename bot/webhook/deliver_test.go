package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/clorebot/clorebot/commands"
)

// dlStore is a DeliveryStore in memory with the semantics of storage's:
// unique (event, URL), a cursor that never moves back, claims that hide a
// delivery until their lease ends.
type dlStore struct {
	mu         sync.Mutex
	events     []commands.Event
	jobs       map[string]commands.Job
	orders     map[int64]commands.Order
	watches    map[int64]commands.Watch
	cursor     int64
	deliveries []commands.Delivery
}

func newDLStore() *dlStore {
	return &dlStore{jobs: map[string]commands.Job{}, orders: map[int64]commands.Order{}, watches: map[int64]commands.Watch{}}
}

// emit appends an event to the outbox and returns its id.
func (s *dlStore) emit(e commands.Event, at time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.ID = int64(len(s.events) + 1)
	if e.CreatedAt.IsZero() {
		e.CreatedAt = at
	}
	if len(e.Data) == 0 {
		e.Data = json.RawMessage(`{}`)
	}
	s.events = append(s.events, e)
	return e.ID
}

func (s *dlStore) ListEvents(_ context.Context, after int64, limit int) ([]commands.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []commands.Event
	for _, e := range s.events {
		if e.ID > after && (limit <= 0 || len(out) < limit) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *dlStore) GetJob(_ context.Context, id string) (commands.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.jobs[id]; ok {
		return j, nil
	}
	return commands.Job{}, commands.ErrNotFound
}

func (s *dlStore) GetOrderByCloreID(_ context.Context, id int64) (commands.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[id]; ok {
		return o, nil
	}
	return commands.Order{}, commands.ErrNotFound
}

func (s *dlStore) GetWatch(_ context.Context, id int64) (commands.Watch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.watches[id]; ok {
		return w, nil
	}
	return commands.Watch{}, commands.ErrNotFound
}

func (s *dlStore) DeliveryCursor(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor, nil
}

func (s *dlStore) EnqueueDeliveries(_ context.Context, upTo int64, ds []commands.NewDelivery, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, nd := range ds {
		if slices.ContainsFunc(s.deliveries, func(d commands.Delivery) bool { return d.EventID == nd.EventID && d.URL == nd.URL }) {
			continue
		}
		e := s.events[nd.EventID-1]
		s.deliveries = append(s.deliveries, commands.Delivery{ID: int64(len(s.deliveries) + 1), EventID: nd.EventID,
			EventType: e.Type, EventData: e.Data, EventAt: e.CreatedAt, URL: nd.URL, SecretRef: nd.SecretRef,
			MessageID: nd.MessageID, State: commands.DeliveryPending, NextAt: now, CreatedAt: now, UpdatedAt: now})
		n++
	}
	s.cursor = max(s.cursor, upTo)
	return n, nil
}

func (s *dlStore) ClaimDueDeliveries(_ context.Context, now, until time.Time, limit int) ([]commands.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []commands.Delivery
	for i := range s.deliveries {
		d := &s.deliveries[i]
		if d.State == commands.DeliveryPending && !d.NextAt.After(now) && len(out) < limit {
			out = append(out, *d)
			d.NextAt = until
		}
	}
	return out, nil
}

func (s *dlStore) RecordDeliveryAttempt(_ context.Context, a commands.DeliveryAttempt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &s.deliveries[a.ID-1]
	if d.State != commands.DeliveryPending {
		return nil
	}
	d.State, d.Attempts, d.LastAttemptAt, d.LastStatus, d.LastError = a.State, d.Attempts+1, a.At, a.Status, a.Error
	d.NextAt = a.At
	if a.State == commands.DeliveryPending {
		d.NextAt = a.NextAt
	}
	if a.State == commands.DeliveryDelivered {
		d.DeliveredAt = a.At
	}
	return nil
}

// all returns a copy of every delivery.
func (s *dlStore) all() []commands.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// dlClock is a settable clock.
type dlClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *dlClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *dlClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// dlObserver counts what the dispatcher reports.
type dlObserver struct {
	mu       sync.Mutex
	attempts map[string]int // "target/result"
	dead     map[string]int
}

func (o *dlObserver) ObserveDeliveryAttempt(target, result string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attempts[target+"/"+result]++
}

func (o *dlObserver) ObserveDeadLetter(target string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead[target]++
}

// dlRequest is one request a receiver got.
type dlRequest struct {
	path   string
	header http.Header
	body   []byte
}

// dlReceiver records requests and answers each with status(request).
type dlReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []dlRequest
	status func(r dlRequest, n int) int // n counts earlier requests with the same webhook-id
}

func newDLReceiver(t *testing.T, status func(r dlRequest, n int) int) *dlReceiver {
	t.Helper()
	rc := &dlReceiver{status: status}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := dlRequest{path: r.URL.Path, header: r.Header.Clone(), body: body}
		rc.mu.Lock()
		n := 0
		for _, g := range rc.got {
			if g.header.Get("webhook-id") == r.Header.Get("webhook-id") {
				n++
			}
		}
		rc.got = append(rc.got, req)
		rc.mu.Unlock()
		w.WriteHeader(rc.status(req, n))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *dlReceiver) requests() []dlRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func always(code int) func(dlRequest, int) int {
	return func(dlRequest, int) int { return code }
}

// dlSecret returns a fresh "whsec_" secret and its HMAC key.
func dlSecret(t *testing.T) (string, []byte) {
	t.Helper()
	key := make([]byte, 24)
	rand.Read(key)
	s := "whsec_" + base64.StdEncoding.EncodeToString(key)
	parsed, err := ParseSecret(s)
	if err != nil {
		t.Fatalf("ParseSecret: %v", err)
	}
	return s, parsed
}

// dlRig is a dispatcher over a dlStore with a fake clock.
type dlRig struct {
	store *dlStore
	clock *dlClock
	obs   *dlObserver
	d     *Dispatcher
}

func newDLRig(t *testing.T, o DispatcherOptions) *dlRig {
	t.Helper()
	r := &dlRig{store: newDLStore(), clock: &dlClock{t: time.Now()},
		obs: &dlObserver{attempts: map[string]int{}, dead: map[string]int{}}}
	o.Store, o.Now, o.Observer = r.store, r.clock.Now, r.obs
	d, err := NewDispatcher(o)
	if err != nil {
		t.Fatalf("NewDispatcher: %v", err)
	}
	r.d = d
	return r
}

func (r *dlRig) tick(t *testing.T) {
	t.Helper()
	if err := r.d.Tick(context.Background()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
}

func (r *dlRig) emit(typ, jobID string, data string) int64 {
	return r.store.emit(commands.Event{Type: typ, JobID: jobID, Data: json.RawMessage(data)}, r.clock.Now())
}

// verify checks a request with the reference library: its signature (and,
// when fresh, its timestamp) against secret.
func verify(t *testing.T, secret string, req dlRequest, fresh bool) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	if fresh {
		err = wh.Verify(req.body, req.header)
	} else {
		err = wh.VerifyIgnoringTimestamp(req.body, req.header)
	}
	if err != nil {
		t.Fatalf("reference library refuses the delivery to %s: %v", req.path, err)
	}
}

func TestDeliveriesVerifyWithTheReferenceLibrary(t *testing.T) {
	subSecret, subKey := dlSecret(t)
	keySecret, keyKey := dlSecret(t)
	rc := newDLReceiver(t, always(http.StatusNoContent))
	r := newDLRig(t, DispatcherOptions{
		Subscribers:          []Subscriber{{URL: rc.URL + "/sub", Secret: subKey}},
		KeySecrets:           map[string][]byte{"zapier": keyKey},
		CallbackAllowPrivate: true, // the receiver is on loopback
	})
	r.store.jobs["j1"] = commands.Job{ID: "j1", Platform: commands.PlatformWebhook,
		RequestedBy: "webhook:zapier", ReplyTarget: rc.URL + "/callback"}
	at := r.clock.Now()
	r.emit("order.running", "j1", `{"order_id": 42, "gpu": "RTX 4090"}`)
	r.tick(t)

	got := rc.requests()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2 (subscriber and callback)", len(got))
	}
	paths := map[string]dlRequest{}
	for _, req := range got {
		paths[req.path] = req
		if ct := req.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if ua := req.header.Get("User-Agent"); ua != "clorebot" {
			t.Errorf("User-Agent = %q", ua)
		}
		if !strings.HasPrefix(req.header.Get("webhook-id"), "msg_") {
			t.Errorf("webhook-id = %q", req.header.Get("webhook-id"))
		}
		var body struct {
			Type      string          `json:"type"`
			Timestamp string          `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(req.body, &body); err != nil {
			t.Fatalf("body %s: %v", req.body, err)
		}
		ts, err := time.Parse(time.RFC3339, body.Timestamp)
		if body.Type != "order.running" || err != nil || !ts.Equal(at.UTC().Truncate(time.Second)) ||
			string(body.Data) != `{"order_id":42,"gpu":"RTX 4090"}` {
			t.Errorf("body = %s; want the event's type, RFC 3339 time %v and data", req.body, at.UTC())
		}
	}
	// Subscribers sign with their own secret; answers to a callback_url
	// with the secret of the key that sent the request.
	verify(t, subSecret, paths["/sub"], true)
	verify(t, keySecret, paths["/callback"], true)
	wrong, _ := standardwebhooks.NewWebhook(keySecret)
	if wrong.Verify(paths["/sub"].body, paths["/sub"].header) == nil {
		t.Error("the subscriber's delivery verifies with the key's secret too")
	}
	if paths["/sub"].header.Get("webhook-id") == paths["/callback"].header.Get("webhook-id") {
		t.Error("two deliveries share a webhook-id")
	}
	if r.obs.attempts["subscriber/delivered"] != 1 || r.obs.attempts["callback/delivered"] != 1 {
		t.Errorf("observed %v", r.obs.attempts)
	}

	// Delivered is final: more ticks, much later, send nothing more.
	for range 3 {
		r.clock.Advance(24 * time.Hour)
		r.tick(t)
	}
	if n := len(rc.requests()); n != 2 {
		t.Fatalf("receiver got %d requests after delivery, want still 2", n)
	}
	for _, d := range r.store.all() {
		if d.State != commands.DeliveryDelivered || d.Attempts != 1 || d.LastStatus != http.StatusNoContent {
			t.Errorf("delivery %+v, want delivered after one attempt", d)
		}
	}
}

func TestRetryScheduleThenDeadLetter(t *testing.T) {
	secret, key := dlSecret(t)
	rc := newDLReceiver(t, always(http.StatusServiceUnavailable))
	r := newDLRig(t, DispatcherOptions{Subscribers: []Subscriber{{URL: rc.URL, Secret: key}}})
	r.emit("order.failed", "", `{"reason": "provision_timeout"}`)
	start := r.clock.Now()

	schedule := DefaultSchedule()
	if want := []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
		5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}; !slices.Equal(schedule, want) {
		t.Fatalf("DefaultSchedule = %v, want DESIGN.md §5's %v", schedule, want)
	}
	r.tick(t) // attempt 1, now
	for i, delay := range schedule[1:] {
		attempt := i + 2
		// One second early: nothing is due.
		r.clock.Advance(delay - time.Second)
		r.tick(t)
		if n := len(rc.requests()); n != attempt-1 {
			t.Fatalf("before attempt %d: receiver got %d requests, want %d", attempt, n, attempt-1)
		}
		r.clock.Advance(time.Second)
		r.tick(t)
		if n := len(rc.requests()); n != attempt {
			t.Fatalf("attempt %d: receiver got %d requests, want %d", attempt, n, attempt)
		}
	}

	got := rc.requests()
	id := got[0].header.Get("webhook-id")
	at := start
	for i, req := range got {
		at = at.Add(schedule[i])
		if req.header.Get("webhook-id") != id {
			t.Errorf("attempt %d webhook-id %q, want %q on every attempt", i+1, req.header.Get("webhook-id"), id)
		}
		if ts := req.header.Get("webhook-timestamp"); ts != strconv.FormatInt(at.Unix(), 10) {
			t.Errorf("attempt %d webhook-timestamp %s, want the attempt's time %d", i+1, ts, at.Unix())
		}
		if string(req.body) != string(got[0].body) {
			t.Errorf("attempt %d body changed", i+1)
		}
		verify(t, secret, req, false)
	}
	d := r.store.all()[0]
	if d.State != commands.DeliveryDead || d.Attempts != len(schedule) || d.LastStatus != 503 || d.LastError != "HTTP 503" {
		t.Fatalf("after the schedule: %+v; want dead after %d attempts", d, len(schedule))
	}
	if r.obs.attempts["subscriber/rejected"] != len(schedule) || r.obs.dead["subscriber"] != 1 {
		t.Errorf("observed attempts %v, dead letters %v", r.obs.attempts, r.obs.dead)
	}

	// Dead-lettered: never sent again on its own.
	r.clock.Advance(48 * time.Hour)
	r.tick(t)
	if n := len(rc.requests()); n != len(schedule) {
		t.Fatalf("a dead letter was sent again: %d requests", n)
	}
}

func TestReceiverThatRecoversGetsEachEventOnce(t *testing.T) {
	const failures = 3
	secret, key := dlSecret(t)
	rc := newDLReceiver(t, func(_ dlRequest, n int) int {
		if n < failures {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	r := newDLRig(t, DispatcherOptions{Subscribers: []Subscriber{{URL: rc.URL, Secret: key}}, Concurrency: 2})
	types := []string{"order.created", "order.running", "job.completed"}
	for _, typ := range types {
		r.emit(typ, "", `{}`)
	}
	// Tick through the whole schedule and a day more.
	r.tick(t)
	for _, delay := range append(DefaultSchedule()[1:], 24*time.Hour) {
		r.clock.Advance(delay)
		r.tick(t)
	}

	byID := map[string][]dlRequest{}
	for _, req := range rc.requests() {
		verify(t, secret, req, false)
		id := req.header.Get("webhook-id")
		byID[id] = append(byID[id], req)
	}
	if len(byID) != len(types) {
		t.Fatalf("receiver saw %d webhook-ids, want one per event (%d)", len(byID), len(types))
	}
	var delivered []string
	for id, reqs := range byID {
		if len(reqs) != failures+1 {
			t.Errorf("%s: %d requests, want %d failures then one success", id, len(reqs), failures)
		}
		for _, req := range reqs[1:] {
			if string(req.body) != string(reqs[0].body) {
				t.Errorf("%s: body changed between attempts", id)
			}
		}
		var body struct{ Type string }
		json.Unmarshal(reqs[0].body, &body)
		delivered = append(delivered, body.Type)
	}
	slices.Sort(delivered)
	if want := slices.Sorted(slices.Values(types)); !slices.Equal(delivered, want) {
		t.Fatalf("delivered %v, want each of %v once", delivered, want)
	}
	for _, d := range r.store.all() {
		if d.State != commands.DeliveryDelivered || d.Attempts != failures+1 {
			t.Errorf("delivery %+v, want delivered at attempt %d", d, failures+1)
		}
	}
}

func TestSubscriberEventFilters(t *testing.T) {
	_, key := dlSecret(t)
	rc := newDLReceiver(t, always(http.StatusOK))
	r := newDLRig(t, DispatcherOptions{Subscribers: []Subscriber{
		{URL: rc.URL + "/all", Secret: key},
		{URL: rc.URL + "/running", Secret: key, Events: []string{"order.running"}},
		{URL: rc.URL + "/ends", Secret: key, Events: []string{"order.failed", "order.cancelled", "job.completed"}},
	}})
	for _, typ := range []string{"order.created", "order.running", "order.progress", "job.completed"} {
		r.emit(typ, "", `{}`)
	}
	r.tick(t)
	got := map[string][]string{}
	for _, req := range rc.requests() {
		var body struct{ Type string }
		json.Unmarshal(req.body, &body)
		got[req.path] = append(got[req.path], body.Type)
	}
	for _, types := range got {
		slices.Sort(types)
	}
	want := map[string][]string{
		"/all":     {"job.completed", "order.created", "order.running"}, // order.progress is internal
		"/running": {"order.running"},
		"/ends":    {"job.completed"},
	}
	for path, w := range want {
		if !slices.Equal(got[path], w) {
			t.Errorf("%s got %v, want %v", path, got[path], w)
		}
	}
}

func TestCallbackTargets(t *testing.T) {
	keySecret, key := dlSecret(t)
	rc := newDLReceiver(t, always(http.StatusOK))
	cb := rc.URL + "/cb"
	tests := []struct {
		name  string
		setup func(s *dlStore) commands.Event
		want  bool
	}{
		{"webhook job", func(s *dlStore) commands.Event {
			s.jobs["j"] = commands.Job{ID: "j", Platform: commands.PlatformWebhook, RequestedBy: "webhook:ci", ReplyTarget: cb}
			return commands.Event{Type: "job.completed", JobID: "j"}
		}, true},
		{"slack job", func(s *dlStore) commands.Event {
			s.jobs["j"] = commands.Job{ID: "j", Platform: "slack", RequestedBy: "slack:U1", ReplyTarget: cb}
			return commands.Event{Type: "job.completed", JobID: "j"}
		}, false},
		{"webhook job without callback_url", func(s *dlStore) commands.Event {
			s.jobs["j"] = commands.Job{ID: "j", Platform: commands.PlatformWebhook, RequestedBy: "webhook:ci"}
			return commands.Event{Type: "job.completed", JobID: "j"}
		}, false},
		{"key no longer configured", func(s *dlStore) commands.Event {
			s.jobs["j"] = commands.Job{ID: "j", Platform: commands.PlatformWebhook, RequestedBy: "webhook:gone", ReplyTarget: cb}
			return commands.Event{Type: "job.completed", JobID: "j"}
		}, false},
		{"callback not http", func(s *dlStore) commands.Event {
			s.jobs["j"] = commands.Job{ID: "j", Platform: commands.PlatformWebhook, RequestedBy: "webhook:ci", ReplyTarget: "file:///etc/passwd"}
			return commands.Event{Type: "job.completed", JobID: "j"}
		}, false},
		{"callback with credentials", func(s *dlStore) commands.Event {
			s.jobs["j"] = commands.Job{ID: "j", Platform: commands.PlatformWebhook, RequestedBy: "webhook:ci",
				ReplyTarget: strings.Replace(cb, "://", "://user:pw@", 1)}
			return commands.Event{Type: "job.completed", JobID: "j"}
		}, false},
		{"missing job", func(s *dlStore) commands.Event {
			return commands.Event{Type: "job.completed", JobID: "nope"}
		}, false},
		{"order event without a job", func(s *dlStore) commands.Event {
			s.orders[7] = commands.Order{RequestedBy: "webhook:ci", ReplyTarget: cb}
			return commands.Event{Type: "order.expired", OrderID: new(int64(7))}
		}, true},
		{"chat order event", func(s *dlStore) commands.Event {
			s.orders[7] = commands.Order{RequestedBy: "discord:1", ReplyTarget: cb}
			return commands.Event{Type: "order.expiring", OrderID: new(int64(7))}
		}, false},
		{"watch event", func(s *dlStore) commands.Event {
			s.watches[3] = commands.Watch{Platform: commands.PlatformWebhook, Owner: "webhook:ci", ReplyTarget: cb}
			return commands.Event{Type: "watch.triggered", Data: json.RawMessage(`{"watch_id": 3}`)}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rc.requests())
			r := newDLRig(t, DispatcherOptions{KeySecrets: map[string][]byte{"ci": key}, CallbackAllowPrivate: true})
			r.store.emit(tt.setup(r.store), r.clock.Now())
			r.tick(t)
			got := rc.requests()[before:]
			if (len(got) == 1) != tt.want || len(got) > 1 {
				t.Fatalf("callback requests = %d, want callback %v", len(got), tt.want)
			}
			if tt.want {
				verify(t, keySecret, got[0], true)
			}
		})
	}
}

func TestCallbackToASubscriberURLGoesOnce(t *testing.T) {
	subSecret, subKey := dlSecret(t)
	_, keyKey := dlSecret(t)
	rc := newDLReceiver(t, always(http.StatusOK))
	r := newDLRig(t, DispatcherOptions{
		Subscribers: []Subscriber{{URL: rc.URL, Secret: subKey}},
		KeySecrets:  map[string][]byte{"ci": keyKey},
	})
	r.store.jobs["j"] = commands.Job{ID: "j", Platform: commands.PlatformWebhook, RequestedBy: "webhook:ci", ReplyTarget: rc.URL}
	r.emit("job.completed", "j", `{}`)
	r.tick(t)
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	verify(t, subSecret, got[0], true)
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	_, key := dlSecret(t)
	followed := make(chan struct{}, 1)
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed <- struct{}{} }))
	t.Cleanup(target.Close)
	rc := newDLReceiver(t, always(http.StatusFound))
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	r := newDLRig(t, DispatcherOptions{Subscribers: []Subscriber{
		{URL: redirect.URL, Secret: key}, {URL: rc.URL, Secret: key},
	}, Client: &http.Client{}})
	r.emit("order.created", "", `{}`)
	r.tick(t)
	select {
	case <-followed:
		t.Fatal("a redirect was followed")
	default:
	}
	for _, d := range r.store.all() {
		if d.State != commands.DeliveryPending || d.Attempts != 1 || d.LastStatus != http.StatusFound ||
			!strings.Contains(d.LastError, "redirects are not followed") {
			t.Errorf("delivery %+v; want a failed attempt with status 302", d)
		}
	}
}

func TestGoneDeadLettersAtOnce(t *testing.T) {
	_, key := dlSecret(t)
	rc := newDLReceiver(t, always(http.StatusGone))
	r := newDLRig(t, DispatcherOptions{Subscribers: []Subscriber{{URL: rc.URL, Secret: key}}})
	r.emit("order.created", "", `{}`)
	r.tick(t)
	d := r.store.all()[0]
	if d.State != commands.DeliveryDead || d.Attempts != 1 || d.LastStatus != http.StatusGone {
		t.Fatalf("delivery %+v; want dead after one 410", d)
	}
	if r.obs.dead["subscriber"] != 1 {
		t.Errorf("dead letters observed: %v", r.obs.dead)
	}
}

func TestTimeoutAndNetworkErrorsAreFailures(t *testing.T) {
	_, key := dlSecret(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more
	r := newDLRig(t, DispatcherOptions{
		Subscribers: []Subscriber{{URL: slow.URL + "/slow", Secret: key}, {URL: closed.URL + "/closed", Secret: key}},
		Timeout:     50 * time.Millisecond,
	})
	r.emit("order.created", "", `{}`)
	r.tick(t)
	for _, d := range r.store.all() {
		wantErr := "timeout after 50ms"
		if strings.HasSuffix(d.URL, "/closed") {
			wantErr = "connect"
		}
		if d.State != commands.DeliveryPending || d.Attempts != 1 || d.LastStatus != 0 || !strings.Contains(d.LastError, wantErr) {
			t.Errorf("delivery to %s: %+v; want a failed attempt mentioning %q", d.URL, d, wantErr)
		}
		if strings.Contains(d.LastError, "/closed") || strings.Contains(d.LastError, "/slow") {
			t.Errorf("error text %q quotes the URL", d.LastError)
		}
		if !d.NextAt.Equal(r.clock.Now().Add(5 * time.Second)) {
			t.Errorf("next attempt at %v, want 5 s later", d.NextAt)
		}
	}
	if r.obs.attempts["subscriber/timeout"] != 1 || r.obs.attempts["subscriber/error"] != 1 {
		t.Errorf("observed %v", r.obs.attempts)
	}
}

func TestUnresolvableDeliveriesAreDeadLettered(t *testing.T) {
	rc := newDLReceiver(t, always(http.StatusOK))
	r := newDLRig(t, DispatcherOptions{})
	id := r.emit("order.created", "", `{}`)
	// Rows left by an earlier configuration.
	_, err := r.store.EnqueueDeliveries(context.Background(), id, []commands.NewDelivery{
		{EventID: id, URL: rc.URL + "/a", SecretRef: "subscriber:" + rc.URL + "/a", MessageID: "msg_a"},
		{EventID: id, URL: rc.URL + "/b", SecretRef: "key:removed", MessageID: "msg_b"},
	}, r.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.tick(t)
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("%d requests sent without a configured secret", n)
	}
	for _, d := range r.store.all() {
		if d.State != commands.DeliveryDead || !strings.Contains(d.LastError, "no longer configured") {
			t.Errorf("delivery %+v; want dead-lettered as no longer configured", d)
		}
	}
}

func TestNewDispatcherRejects(t *testing.T) {
	_, key := dlSecret(t)
	store := newDLStore()
	tests := map[string]DispatcherOptions{
		"no store":        {},
		"zero delay":      {Store: store, Schedule: []time.Duration{0, 0}},
		"negative delay":  {Store: store, Schedule: []time.Duration{-time.Second}},
		"not http":        {Store: store, Subscribers: []Subscriber{{URL: "ftp://x.example", Secret: key}}},
		"repeated URL":    {Store: store, Subscribers: []Subscriber{{URL: "https://x.example", Secret: key}, {URL: "https://x.example", Secret: key}}},
		"empty secret":    {Store: store, Subscribers: []Subscriber{{URL: "https://x.example"}}},
		"empty key":       {Store: store, KeySecrets: map[string][]byte{"ci": nil}},
		"relative URL":    {Store: store, Subscribers: []Subscriber{{URL: "/hook", Secret: key}}},
		"unparsable URL":  {Store: store, Subscribers: []Subscriber{{URL: "http://[::1", Secret: key}}},
		"host-less https": {Store: store, Subscribers: []Subscriber{{URL: "https://", Secret: key}}},
	}
	for name, o := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := NewDispatcher(o); err == nil {
				t.Fatal("NewDispatcher accepted it")
			} else if strings.Contains(err.Error(), string(key)) {
				t.Fatalf("error quotes the secret: %v", err)
			}
		})
	}
}

func TestDeliveryBodyIsStable(t *testing.T) {
	at := time.Date(2025, 3, 14, 15, 9, 26, 500000000, time.FixedZone("CET", 3600))
	dl := commands.Delivery{EventType: "order.running", EventAt: at, EventData: json.RawMessage(`{ "a" : 1 }`)}
	b1, err := deliveryBody(dl)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := deliveryBody(dl)
	want := `{"type":"order.running","timestamp":"2025-03-14T14:09:26Z","data":{"a":1}}` // RFC 3339 UTC, to the second
	if string(b1) != want || string(b2) != want {
		t.Fatalf("body = %s, want %s", b1, want)
	}
	empty, _ := deliveryBody(commands.Delivery{EventType: "x", EventAt: at})
	if !strings.HasSuffix(string(empty), `"data":{}}`) {
		t.Errorf("empty data renders as %s", empty)
	}
}

func TestSubscriberURLMayCarryBasicAuth(t *testing.T) {
	_, key := dlSecret(t)
	auth := make(chan [2]string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		auth <- [2]string{user, pass}
	}))
	t.Cleanup(srv.Close)
	r := newDLRig(t, DispatcherOptions{Subscribers: []Subscriber{
		{URL: strings.Replace(srv.URL, "://", "://ops:hunter2@", 1), Secret: key},
	}})
	r.emit("order.created", "", `{}`)
	r.tick(t)
	if got := <-auth; got != [2]string{"ops", "hunter2"} {
		t.Fatalf("basic auth = %q, want the URL's credentials", got)
	}
	if d := r.store.all()[0]; d.State != commands.DeliveryDelivered {
		t.Fatalf("delivery %+v, want delivered", d)
	}
}
