package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/events"
)

// Outbound deliveries (DESIGN.md §5). Every outbox event of a delivered type
// becomes one delivery per receiver: each configured subscriber whose events
// filter takes it, and the callback_url of the webhook request that caused
// it. A delivery keeps its webhook-id on every attempt and is retried on the
// schedule until a 2xx answer, then never sent again; after the last attempt
// it is dead-lettered, for `clorebot deliveries retry`.

// DeliveryTimeout bounds one attempt, connection to last byte of the answer.
const DeliveryTimeout = 15 * time.Second

// Secret references: a delivery row names where its signing secret is
// configured, never the secret.
const (
	subscriberRefPrefix = "subscriber:"
	keyRefPrefix        = "key:"
)

// Values of the observer's target label.
const (
	TargetSubscriber = "subscriber"
	TargetCallback   = "callback"
)

// Values of the observer's result label.
const (
	ResultDelivered = "delivered" // 2xx
	ResultRejected  = "rejected"  // any other HTTP status, 3xx included
	ResultTimeout   = "timeout"
	ResultError     = "error" // no HTTP answer: DNS, connection, TLS
)

const (
	fanOutBatch      = 256
	maxDrainedBytes  = 64 << 10
	deliveryAgent    = "clorebot"
	claimLeaseMargin = time.Minute
)

// DefaultSchedule returns the Standard Webhooks retry schedule of DESIGN.md
// §5: the delay before each attempt, the first counted from the event (now),
// the others from the previous attempt. After the last one a delivery is
// dead-lettered.
func DefaultSchedule() []time.Duration {
	return []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
		5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}
}

// DeliveryStore is the durable state the Dispatcher needs; *storage.Store
// implements it.
type DeliveryStore interface {
	// ListEvents returns outbox events with ID > afterID, oldest first.
	ListEvents(ctx context.Context, afterID int64, limit int) ([]commands.Event, error)
	// GetJob, GetOrderByCloreID and GetWatch find who caused an event, and
	// so its callback; commands.ErrNotFound when missing.
	GetJob(ctx context.Context, id string) (commands.Job, error)
	GetOrderByCloreID(ctx context.Context, cloreID int64) (commands.Order, error)
	GetWatch(ctx context.Context, id int64) (commands.Watch, error)
	// DeliveryCursor is the last event id fanned out.
	DeliveryCursor(ctx context.Context) (int64, error)
	// EnqueueDeliveries inserts ds due at now, skipping an (event, URL) that
	// has one, and moves the cursor up to upTo, in one transaction.
	EnqueueDeliveries(ctx context.Context, upTo int64, ds []commands.NewDelivery, now time.Time) (int, error)
	// ClaimDueDeliveries returns at most limit pending deliveries due at now
	// and hides them from other claims until until.
	ClaimDueDeliveries(ctx context.Context, now, until time.Time, limit int) ([]commands.Delivery, error)
	// RecordDeliveryAttempt counts an attempt and writes its outcome.
	RecordDeliveryAttempt(ctx context.Context, a commands.DeliveryAttempt) error
}

// SecretWiper is the part of the store that wipes connection details and
// SSH passwords kept longer than SecretTTL, dead-lettering their pending
// deliveries; *storage.Store implements it. A DeliveryStore that also
// implements it is swept by Tick, at most once a minute.
type SecretWiper interface {
	WipeSecrets(ctx context.Context, before, now time.Time) (int, error)
}

// SecretTTL is how long SSH passwords and undelivered connection details
// are kept at most (DESIGN.md §7).
const SecretTTL = 24 * time.Hour

// wipeEvery spaces the sweeps of SecretWiper.
const wipeEvery = time.Minute

// DeliveryObserver measures deliveries; *metrics.DeliveryMetrics implements
// it. target is TargetSubscriber or TargetCallback, result one of Result*.
type DeliveryObserver interface {
	ObserveDeliveryAttempt(target, result string, took time.Duration)
	ObserveDeadLetter(target string)
}

// Subscriber is a configured receiver of lifecycle events.
type Subscriber struct {
	URL    string
	Secret []byte   // HMAC key (ParseSecret of the configured secret)
	Events []string // event types it wants; empty = all of events.Delivered
}

// DispatcherOptions configures a Dispatcher.
type DispatcherOptions struct {
	Store       DeliveryStore // required
	Subscribers []Subscriber
	// KeySecrets maps inbound key names to their HMAC keys: answers to a
	// request's callback_url are signed with the key that sent the request.
	KeySecrets map[string][]byte
	// Client sends the requests to subscribers (default: a client with
	// Timeout), and to callbacks too when CallbackAllowPrivate is set. Its
	// CheckRedirect is replaced: redirects are never followed.
	Client *http.Client
	// CallbackAllowPrivate lets callback deliveries reach non-public
	// addresses (webhook.callback_allow_private). Off, they go through a
	// client of their own whose dialer refuses them after resolution, and
	// such a delivery is dead-lettered.
	CallbackAllowPrivate bool
	// Resolver resolves callback hosts (default net.DefaultResolver); tests
	// point it at a local DNS server.
	Resolver *net.Resolver
	// Timeout bounds one attempt (default DeliveryTimeout).
	Timeout time.Duration
	// Schedule is the delay before each attempt (default DefaultSchedule);
	// every delay but the first must be positive.
	Schedule []time.Duration
	// Concurrency is how many deliveries are sent at once (default 8).
	Concurrency int
	Now         func() time.Time // default time.Now
	Observer    DeliveryObserver // default none
	Logger      *slog.Logger
	// Incoming are notification-only receivers (Slack and Discord
	// incoming-webhook URLs): same queue and schedule, their own payload.
	Incoming []IncomingTarget
}

// Dispatcher turns outbox events into signed deliveries and sends them.
type Dispatcher struct {
	store       DeliveryStore
	subs        []Subscriber
	subByURL    map[string]Subscriber
	keys        map[string][]byte
	client      *http.Client
	callbacks   *http.Client // callback deliveries
	timeout     time.Duration
	schedule    []time.Duration
	concurrency int
	now         func() time.Time
	obs         DeliveryObserver
	log         *slog.Logger
	incoming    []IncomingTarget

	wipeMu      sync.Mutex
	lastWipe    time.Time
	fedByOutbox bool // see FedByOutbox (sink.go)
}

// NewDispatcher checks o and builds a Dispatcher. Errors never quote a
// secret.
func NewDispatcher(o DispatcherOptions) (*Dispatcher, error) {
	if err := checkDispatcherOptions(&o); err != nil {
		return nil, fmt.Errorf("webhook: dispatcher: %w", err)
	}
	d := &Dispatcher{
		store: o.Store, subs: slices.Clone(o.Subscribers), subByURL: map[string]Subscriber{},
		keys: map[string][]byte{}, timeout: o.Timeout, schedule: slices.Clone(o.Schedule),
		concurrency: o.Concurrency, now: o.Now, obs: o.Observer, log: o.Logger,
		incoming: slices.Clone(o.Incoming),
	}
	for _, s := range d.subs {
		d.subByURL[s.URL] = s
	}
	for name, k := range o.KeySecrets {
		d.keys[name] = k
	}
	client := &http.Client{Timeout: o.Timeout}
	if o.Resolver != nil {
		client.Transport = newTransport(o.Timeout, o.Resolver, nil)
	}
	if o.Client != nil {
		copied := *o.Client
		client = &copied
	}
	noRedirects := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client.CheckRedirect = noRedirects
	d.client, d.callbacks = client, client
	if !o.CallbackAllowPrivate {
		d.callbacks = newCallbackClient(o.Timeout, o.Resolver)
		d.callbacks.CheckRedirect = noRedirects
	}
	return d, nil
}

// checkDispatcherOptions validates o and fills in its defaults.
func checkDispatcherOptions(o *DispatcherOptions) error {
	if o.Store == nil {
		return errors.New("a store is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = DeliveryTimeout
	}
	if len(o.Schedule) == 0 {
		o.Schedule = DefaultSchedule()
	}
	for i, s := range o.Schedule {
		if s < 0 || (i > 0 && s == 0) {
			return fmt.Errorf("schedule[%d] is %v: want a positive delay (the first may be 0)", i, s)
		}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observer == nil {
		o.Observer = noDeliveryObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	seen := map[string]int{}
	for i, s := range o.Subscribers {
		if problem := deliveryURLProblem(s.URL, true); problem != "" {
			return fmt.Errorf("subscriber %d: %s", i, problem)
		}
		if first, dup := seen[s.URL]; dup {
			return fmt.Errorf("subscriber %d: URL repeats subscriber %d", i, first)
		}
		seen[s.URL] = i
		if len(s.Secret) == 0 {
			return fmt.Errorf("subscriber %d: empty secret", i)
		}
	}
	for name, k := range o.KeySecrets {
		if len(k) == 0 {
			return fmt.Errorf("key %s: empty secret", name)
		}
	}
	return checkIncoming(o.Incoming)
}

type noDeliveryObserver struct{}

func (noDeliveryObserver) ObserveDeliveryAttempt(string, string, time.Duration) {}
func (noDeliveryObserver) ObserveDeadLetter(string)                             {}

// Tick fans new outbox events out into deliveries, then sends every
// delivery due now, Concurrency at a time, and records each outcome. Only
// store failures are returned; a receiver's failure is a recorded attempt.
func (d *Dispatcher) Tick(ctx context.Context) error {
	if d.fedByOutbox {
		return errors.Join(d.sendDue(ctx), d.wipeSecrets(ctx))
	}
	return errors.Join(d.fanOut(ctx), d.sendDue(ctx), d.wipeSecrets(ctx))
}

// wipeSecrets runs the store's SecretWiper, at most once per wipeEvery.
func (d *Dispatcher) wipeSecrets(ctx context.Context) error {
	w, ok := d.store.(SecretWiper)
	if !ok {
		return nil
	}
	d.wipeMu.Lock()
	defer d.wipeMu.Unlock()
	now := d.now()
	if !d.lastWipe.IsZero() && now.Sub(d.lastWipe) < wipeEvery {
		return nil
	}
	d.lastWipe = now
	n, err := w.WipeSecrets(ctx, now.Add(-SecretTTL), now)
	if err != nil {
		return fmt.Errorf("webhook: wipe secrets: %w", err)
	}
	if n > 0 {
		d.log.LogAttrs(ctx, slog.LevelInfo, "connection details and SSH passwords wiped", slog.Int("count", n))
	}
	return nil
}

// fanOut creates the deliveries of the events after the cursor, a batch at
// a time. Each batch and its cursor move are one store transaction, and a
// repeated batch creates nothing twice.
func (d *Dispatcher) fanOut(ctx context.Context) error {
	for {
		after, err := d.store.DeliveryCursor(ctx)
		if err != nil {
			return fmt.Errorf("webhook: fan out: %w", err)
		}
		events, err := d.store.ListEvents(ctx, after, fanOutBatch)
		if err != nil {
			return fmt.Errorf("webhook: fan out: %w", err)
		}
		if len(events) == 0 {
			return nil
		}
		var ds []commands.NewDelivery
		for _, ev := range events {
			targets, err := d.targetsOf(ctx, ev)
			if err != nil {
				return fmt.Errorf("webhook: fan out event %d: %w", ev.ID, err)
			}
			ds = append(ds, targets...)
		}
		upTo := events[len(events)-1].ID
		n, err := d.store.EnqueueDeliveries(ctx, upTo, ds, d.now().Add(d.schedule[0]))
		if err != nil {
			return fmt.Errorf("webhook: fan out: %w", err)
		}
		if n > 0 {
			d.log.LogAttrs(ctx, slog.LevelDebug, "webhook deliveries queued",
				slog.Int("count", n), slog.Int64("up_to_event_id", upTo))
		}
		if len(events) < fanOutBatch {
			return nil
		}
	}
}

// targetsOf lists ev's deliveries: subscribers first, then the callback of
// the request that caused it. One URL gets one delivery per event, so a
// callback to a subscriber's URL goes out once, signed as the subscriber.
func (d *Dispatcher) targetsOf(ctx context.Context, ev commands.Event) ([]commands.NewDelivery, error) {
	if !slices.Contains(events.Delivered(), ev.Type) {
		return nil, nil
	}
	var out []commands.NewDelivery
	for _, s := range d.subs {
		if len(s.Events) == 0 || slices.Contains(s.Events, ev.Type) {
			out = append(out, commands.NewDelivery{EventID: ev.ID, URL: s.URL,
				SecretRef: subscriberRefPrefix + s.URL, MessageID: NewMessageID()})
		}
	}
	out = append(out, d.incomingOf(ev)...)
	who, callback, err := d.callbackOf(ctx, ev)
	if err != nil || callback == "" {
		return out, err
	}
	key, ok := strings.CutPrefix(who, commands.PlatformWebhook+":")
	if _, configured := d.keys[key]; !ok || !configured {
		d.log.LogAttrs(ctx, slog.LevelWarn, "webhook callback dropped: its key is not configured",
			slog.Int64("event_id", ev.ID), slog.String("job_id", ev.JobID), slog.String("key", key))
		return out, nil
	}
	if deliveryURLProblem(callback, false) != "" {
		d.log.LogAttrs(ctx, slog.LevelWarn, "webhook callback dropped: not an http(s) URL",
			slog.Int64("event_id", ev.ID), slog.String("job_id", ev.JobID))
		return out, nil
	}
	if slices.ContainsFunc(out, func(n commands.NewDelivery) bool { return n.URL == callback }) {
		return out, nil
	}
	return append(out, commands.NewDelivery{EventID: ev.ID, URL: callback,
		SecretRef: keyRefPrefix + key, MessageID: NewMessageID()}), nil
}

// callbackOf finds the webhook identity and callback URL of the request
// that caused ev: its job, else its order, else the watch named by
// data.watch_id. Chat requests have no callback; "" when there is none.
func (d *Dispatcher) callbackOf(ctx context.Context, ev commands.Event) (who, callback string, err error) {
	switch {
	case ev.JobID != "":
		j, err := d.store.GetJob(ctx, ev.JobID)
		if err != nil || j.Platform != commands.PlatformWebhook {
			return "", "", ignoreNotFound(err)
		}
		return j.RequestedBy, j.ReplyTarget, nil
	case ev.OrderID != nil:
		o, err := d.store.GetOrderByCloreID(ctx, *ev.OrderID)
		if err != nil || !strings.HasPrefix(o.RequestedBy, commands.PlatformWebhook+":") {
			return "", "", ignoreNotFound(err)
		}
		return o.RequestedBy, o.ReplyTarget, nil
	}
	watchID, ok := ev.WatchID()
	if !ok {
		return "", "", nil
	}
	w, err := d.store.GetWatch(ctx, watchID)
	if err != nil || w.Platform != commands.PlatformWebhook {
		return "", "", ignoreNotFound(err)
	}
	return w.Owner, w.ReplyTarget, nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, commands.ErrNotFound) {
		return nil
	}
	return err
}

// deliveryURLProblem says why u cannot receive deliveries: only absolute
// http(s) URLs do ("" when u is fine). A configured subscriber's URL may
// carry basic-auth credentials; a callback_url, which a request chose, may
// not.
func deliveryURLProblem(u string, credentialsOK bool) string {
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return "not a URL"
	case p.Scheme != "http" && p.Scheme != "https":
		return "not an http or https URL"
	case p.Hostname() == "":
		return "no host"
	case p.User != nil && !credentialsOK:
		return "URL carries a user name or password"
	}
	return ""
}

// sendDue sends the deliveries due at the start of the tick, Concurrency at
// a time. A delivery that fails is due again only after a positive delay,
// so each is sent at most once per tick.
func (d *Dispatcher) sendDue(ctx context.Context) error {
	due := d.now()
	for ctx.Err() == nil {
		batch, err := d.store.ClaimDueDeliveries(ctx, due, d.now().Add(d.timeout+claimLeaseMargin), d.concurrency)
		if err != nil {
			return fmt.Errorf("webhook: send deliveries: %w", err)
		}
		errs := make([]error, len(batch))
		var wg sync.WaitGroup
		for i, dl := range batch {
			wg.Go(func() { errs[i] = d.deliver(ctx, dl) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if len(batch) < d.concurrency {
			return nil
		}
	}
	return nil
}

// deliver makes one attempt at dl and records it.
func (d *Dispatcher) deliver(ctx context.Context, dl commands.Delivery) error {
	if name, ok := strings.CutPrefix(dl.SecretRef, notifyRefPrefix); ok {
		return d.deliverIncoming(ctx, dl, name)
	}
	target := deliveryTarget(dl.SecretRef)
	secret, problem := d.secretFor(dl.SecretRef)
	if problem == "" {
		problem = deliveryURLProblem(dl.URL, target == TargetSubscriber)
	}
	body, err := deliveryBody(dl)
	if problem == "" && err != nil {
		problem = "event data is not JSON"
	}
	at := d.now()
	if problem != "" {
		// Retrying cannot help until the configuration changes; then
		// `clorebot deliveries retry` can.
		return d.record(ctx, dl, target, commands.DeliveryAttempt{ID: dl.ID, At: at, Error: problem, State: commands.DeliveryDead})
	}
	start := time.Now()
	client := d.client
	if target == TargetCallback {
		client = d.callbacks
	}
	status, err := d.post(ctx, client, dl, secret, body, at)
	took := time.Since(start)
	if ctx.Err() != nil {
		return nil // shutting down: not the receiver's failure; the claim lapses
	}
	a, result := d.outcome(dl, at, status, err, 0)
	d.obs.ObserveDeliveryAttempt(target, result, took)
	return d.record(ctx, dl, target, a)
}

// outcome is the attempt at dl made at `at` that got status (or err): the
// next attempt on the schedule, not before retryAfter when the receiver
// asked for a pause (HTTP 429), or the delivery's end.
func (d *Dispatcher) outcome(dl commands.Delivery, at time.Time, status int, err error, retryAfter time.Duration) (commands.DeliveryAttempt, string) {
	a := commands.DeliveryAttempt{ID: dl.ID, At: at, Status: status}
	result := ResultRejected
	switch {
	case errors.Is(err, errNonPublic):
		// Refused before connecting: retrying cannot help while the name
		// resolves there.
		problem, _ := d.transportProblem(err)
		a.Error, a.State, result = problem+" (refused, not sent)", commands.DeliveryDead, ResultError
	case err != nil:
		a.Error, result = d.transportProblem(err)
	case status >= 200 && status < 300:
		a.State, result = commands.DeliveryDelivered, ResultDelivered
	case status == http.StatusGone:
		// The receiver says it is gone for good: dead-letter at once.
		a.Error, a.State = "HTTP 410 Gone: the receiver asked to stop", commands.DeliveryDead
	case status >= 300 && status < 400:
		a.Error = fmt.Sprintf("HTTP %d: redirects are not followed", status)
	default:
		a.Error = fmt.Sprintf("HTTP %d", status)
	}
	if a.State == "" {
		a.State, a.NextAt = commands.DeliveryDead, time.Time{}
		if n := dl.Attempts + 1; n < len(d.schedule) {
			a.State, a.NextAt = commands.DeliveryPending, at.Add(max(d.schedule[n], retryAfter))
		}
	}
	return a, result
}

// record stores an attempt, counts a dead letter and logs the outcome,
// without the URL's path or query (they may hold a token) or the body.
func (d *Dispatcher) record(ctx context.Context, dl commands.Delivery, target string, a commands.DeliveryAttempt) error {
	if a.State == commands.DeliveryDead {
		d.obs.ObserveDeadLetter(target)
	}
	level, msg := slog.LevelDebug, "webhook delivered"
	switch a.State {
	case commands.DeliveryPending:
		level, msg = slog.LevelInfo, "webhook delivery failed, will retry"
	case commands.DeliveryDead:
		level, msg = slog.LevelWarn, "webhook delivery dead-lettered"
	}
	d.log.LogAttrs(ctx, level, msg, slog.Int64("delivery_id", dl.ID), slog.Int64("event_id", dl.EventID),
		slog.String("event_type", dl.EventType), slog.String("target", target),
		slog.String("host", urlHost(dl.URL)), slog.Int("attempt", dl.Attempts+1),
		slog.Int("status", a.Status), slog.String("error", a.Error), slog.Time("next_at", a.NextAt))
	if err := d.store.RecordDeliveryAttempt(ctx, a); err != nil {
		return fmt.Errorf("webhook: record delivery %d: %w", dl.ID, err)
	}
	return nil
}

// post sends body to dl.URL, signed at `at`, and returns the HTTP status.
func (d *Dispatcher) post(ctx context.Context, client *http.Client, dl commands.Delivery, secret, body []byte, at time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for name, v := range SignedHeaders(secret, dl.MessageID, at, body) {
		req.Header[name] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", deliveryAgent)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Reading a little of the answer lets the connection be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainedBytes))
	return resp.StatusCode, nil
}

// transportProblem describes a failed exchange without the URL, which may
// hold a token.
func (d *Dispatcher) transportProblem(err error) (problem, result string) {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("timeout after %v", d.timeout), ResultTimeout
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error(), ResultError
}

// secretFor resolves a secret reference against the configuration.
func (d *Dispatcher) secretFor(ref string) (secret []byte, problem string) {
	if u, ok := strings.CutPrefix(ref, subscriberRefPrefix); ok {
		if s, ok := d.subByURL[u]; ok {
			return s.Secret, ""
		}
		return nil, "the subscriber is no longer configured"
	}
	if name, ok := strings.CutPrefix(ref, keyRefPrefix); ok {
		if k, ok := d.keys[name]; ok {
			return k, ""
		}
		return nil, fmt.Sprintf("webhook key %s is no longer configured", name)
	}
	return nil, "unknown secret reference"
}

// deliveryTarget is the observer's target label of a secret reference.
func deliveryTarget(ref string) string {
	if strings.HasPrefix(ref, keyRefPrefix) {
		return TargetCallback
	}
	return TargetSubscriber
}

// deliveryPayload is the body of DESIGN.md §5.
type deliveryPayload struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// deliveryBody renders dl's event; the same delivery always gets the same
// bytes, so every attempt carries an identical, identically signed body.
func deliveryBody(dl commands.Delivery) ([]byte, error) {
	data := dl.EventData
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return json.Marshal(deliveryPayload{Type: dl.EventType,
		Timestamp: dl.EventAt.UTC().Format(time.RFC3339), Data: data})
}

// urlHost is the host of u for logs, "" when u does not parse.
func urlHost(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}
