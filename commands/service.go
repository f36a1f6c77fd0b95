package commands

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// Clore is the part of the Clore client the command layer uses.
type Clore interface {
	Marketplace(ctx context.Context) ([]clore.Server, error)
	MyOrders(ctx context.Context, includeCompleted bool) ([]clore.Order, error)
	Wallets(ctx context.Context) ([]clore.Wallet, error)
	CreateOrder(ctx context.Context, req clore.CreateOrderRequest) error
	CancelOrder(ctx context.Context, orderID int64, issue string) error
}

// Default job lease and sweep: a crashed process's job is free DefaultLease
// after its last heartbeat and found by the next sweep, so it resumes within
// DefaultLease + DefaultSweepInterval = 10 s of the next start.
const (
	DefaultLease         = 8 * time.Second
	DefaultSweepInterval = 2 * time.Second
)

// Options configures a Service. Store and Clore are required.
type Options struct {
	Store    Store
	Clore    Clore
	Notifier Notifier // default: discards progress
	Clock    Clock    // default: the system clock
	Logger   *slog.Logger
	Policy   Policy

	DefaultImage string // default DefaultImage
	// MarketTTL is the marketplace refresh tick (serve: watch.interval): a
	// market or rent that finds the snapshot older asks for one early
	// background refresh and answers from the snapshot it has (default 60 s).
	MarketTTL time.Duration
	// PollInterval spaces my_orders polls while an order provisions (default 10 s).
	PollInterval time.Duration
	// ProvisionTimeout cancels an order that is not online in time
	// (clore.provision_timeout; default 9 min, under Clore's 10-minute
	// creation-fee grace: an order cancelled before then pays no fee).
	ProvisionTimeout time.Duration
	// AutoSSH sends autossh_entrypoint: true with every create_order.
	AutoSSH bool
	// RetryBackoff is the pause after a job's first Clore failure in a row;
	// the n-th waits n times as long, at most 15 times (default 2 s: 30 s).
	RetryBackoff time.Duration
	// ReconcileWindow is how long to look for a created order in my_orders
	// before concluding it does not exist (default 30 s).
	ReconcileWindow time.Duration
	// ConfirmTTL is how long a rent awaits confirmation before it expires
	// (state cancelled; policy.confirm_ttl, default 15 min).
	ConfirmTTL time.Duration
	// MaxOfferAttempts bounds the fail-over between offers (default 3).
	MaxOfferAttempts int
	// WorkerID names this process's job leases (default random).
	WorkerID string
	// Lease is how long a job's lease lasts without renewal (default 8 s): a
	// heartbeat renews it every Lease/4 while the run is alive, so a crashed
	// process's jobs are free within Lease and a live run is never taken over.
	Lease time.Duration
	// Workers is the number of jobs Run executes at once (default 4).
	Workers int
	// EarlyRefresh, when set, is called (it must not block) to ask for one
	// early marketplace refresh: the process's scheduler then runs
	// RefreshMarketEarly. Unset, a request answers from the snapshot it has
	// and asks for nothing (the next refresh comes when it comes).
	EarlyRefresh func()
	// RoleSources answer, per platform (a Request.Platform such as
	// PlatformDiscord), the current platform roles of an auto-rent watch's
	// owner when it triggers. An owner who is a renter only through platform
	// roles, on a platform with no source here, has every auto-rent refused.
	RoleSources map[string]RoleSource
	// AfterCheckpoint, if set, runs after every checkpoint of a job; an error
	// stops the job there as kill -9 would: the lease is not released (tests
	// use it).
	AfterCheckpoint func(j Job) error
}

// Service is the command layer.
type Service struct {
	o      Options
	store  Store
	clore  Clore
	notify Notifier
	clock  Clock
	log    *slog.Logger
	policy Policy

	kick chan string

	// market is the marketplace snapshot, read lock-free by requests and
	// replaced by RefreshMarket; nil until the first refresh.
	market       atomic.Pointer[marketSnapshot]
	marketFlight flight
	// liveOrders is the last my_orders answer, for status and cancel.
	liveOrders   atomic.Pointer[ordersSnapshot]
	ordersFlight flight
	// wallets is the last wallets answer (claims.go), read by rent jobs:
	// once a tick, not once a job.
	wallets      atomic.Pointer[walletSnapshot]
	walletFlight flight
	quotes       quoteBook     // rent quotes per snapshot and want (claims.go)
	snaps        snapshotState // refresh failures, Ready, snapshots to store (readiness.go)

	audits    *auditLog      // background audit writer (auditlog.go)
	details   auditDetails   // the audit detail of the last reply text (auditlog.go)
	watchIdx  watchIndex     // price index of the newest snapshot (watch.go)
	watchMu   sync.Mutex     // one evaluation pass at a time; never held across a Clore call or a role lookup
	watches   watchCache     // the live watches, in memory (watchcache.go)
	lifecycle lifecycleState // reminders and low-balance notices sent (lifecycle.go)
	ledger    spendLedger    // orders whose spend is settled (spend.go)
}

// DefaultImage is the Docker image of a rent that names none: Clore's own
// CUDA image, which runs its sshd.
const DefaultImage = "cloreai/ubuntu22.04-cuda-12.4"

// New returns a Service.
func New(o Options) *Service {
	if o.Notifier == nil {
		o.Notifier = NotifierFunc(func(context.Context, Target, Reply) (string, error) { return "", nil })
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.MarketTTL, time.Minute)
	def(&o.PollInterval, 10*time.Second)
	def(&o.ProvisionTimeout, 9*time.Minute)
	def(&o.RetryBackoff, 2*time.Second)
	def(&o.ReconcileWindow, 30*time.Second)
	def(&o.Lease, DefaultLease)
	def(&o.ConfirmTTL, 15*time.Minute)
	if o.DefaultImage == "" {
		o.DefaultImage = DefaultImage
	}
	if o.MaxOfferAttempts <= 0 {
		o.MaxOfferAttempts = 3
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.WorkerID == "" {
		o.WorkerID = "worker-" + randomID(6)
	}
	s := &Service{o: o, store: o.Store, clore: o.Clore, notify: o.Notifier, clock: o.Clock,
		log: o.Logger, policy: o.Policy, kick: make(chan string, 64),
		audits: newAuditLog(o.Store, o.Logger)}
	return s
}

// Handle answers one request. Quick commands are answered in full; rent and
// cancel become durable jobs and the reply carries the job id (Done false);
// confirm queues one, extend makes a keyed change (the grammar's Spec.Job
// marks all four, which front doors acknowledge first). A request that
// carries its parse (ParseRequest) is not parsed again.
func (s *Service) Handle(ctx context.Context, req Request) Reply {
	r, _ := s.handle(ctx, req, nil)
	return r
}

// handle is Handle and, with a claim, HandleOnce. A command that creates a
// job writes its audit row (and the claim's answer) in the job's
// transaction; any other answer is audited (and recorded) at the end.
func (s *Service) handle(ctx context.Context, req Request, claim *DedupClaim) (Reply, DedupResult) {
	if req.Action != nil {
		return s.handleAction(ctx, req), DedupResult{}
	}
	cmd, err := req.Parsed() // the front door's parse, when it made one
	return s.handleParsed(ctx, req, cmd, err, claim)
}

// handleParsed is handle once req's text is parsed: cmd, or the parse
// error err.
func (s *Service) handleParsed(ctx context.Context, req Request, cmd Command, err error, claim *DedupClaim) (Reply, DedupResult) {
	rec := &intakeRecord{claim: claim}
	if err != nil {
		r := errorReply(err)
		s.record(ctx, req, "parse", rec, &r, nil, nil)
		return r, rec.result
	}
	rec.command = cmd.AuditString()
	if err := s.policy.authorize(req.User, cmd, req.Roles...); err != nil {
		r := errorReply(err) // a refusal: no usage line, the command was well formed
		s.record(ctx, req, rec.command, rec, &r, nil, nil)
		return r, rec.result
	}
	var r Reply
	var order *int64
	var price *float64
	switch cmd.Name {
	case "help":
		text := HelpFor(req.Platform, cmd.Help.Topic) // Slack and Discord: from the grammar, in their terms
		if req.Platform != PlatformSlack && req.Platform != PlatformDiscord {
			text = HelpTextFor(cmd.Help.Topic, HelpValuesOf(s.policy, s.o.DefaultImage))
		}
		r = Reply{Status: StatusOK, Title: "clorebot help", Text: text, Visibility: Ephemeral, Done: true}
	case "market":
		r = s.handleMarket(ctx, cmd.Market)
	case "status":
		r = s.handleStatus(ctx, req, cmd.Status)
	case "spend":
		r = s.handleSpend(ctx, req, cmd.Spend)
	case "watch":
		r = s.handleWatch(ctx, req, cmd.Watch, rec)
	case "rent":
		r, price = s.handleRent(ctx, req, cmd.Rent, rec)
	case "cancel":
		order = &cmd.Cancel.OrderID
		r = s.handleCancel(ctx, req, cmd.Cancel, rec)
	case "confirm":
		r = s.confirmJob(ctx, req, cmd.Confirm.JobID, rec)
	case "extend":
		r = s.handleExtend(ctx, req, cmd.Extend, rec)
		order = &cmd.Extend.OrderID
	default:
		r = errorReply(&UsageError{Problem: "unknown command " + cmd.Name, Usage: Usage("")})
	}
	s.record(ctx, req, rec.command, rec, &r, order, price)
	return r, rec.result
}

// record audits a handled command, unless its row was written in its job's
// transaction; under a dedup claim the answer is recorded with the row.
func (s *Service) record(ctx context.Context, req Request, command string, rec *intakeRecord, r *Reply, order *int64, price *float64) {
	if rec.recorded || s.recordRefusal(ctx, req, command, rec, r, order, price) {
		return
	}
	e := s.auditEntry(req, command, *r, order, price)
	if rec.repeated {
		e.Detail = "redelivered request, answered as before; nothing done again"
	}
	s.auditRow(ctx, e, *r)
}

// errorReply turns an error into the reply a user sees: usage errors and
// policy denials say what was wrong; anything else is an internal error.
func errorReply(err error) Reply {
	var ue *UsageError
	var d *denial
	var ce *CapError
	switch {
	case errors.As(err, &ue):
		return Reply{Status: StatusError, Text: ue.Problem, Usage: ue.Usage, Visibility: Ephemeral, Done: true}
	case errors.As(err, &d):
		return Reply{Status: StatusDenied, Text: d.msg, Visibility: Ephemeral, Done: true}
	case errors.As(err, &ce):
		return Reply{Status: StatusDenied, Text: ce.Error(), Visibility: Ephemeral, Done: true}
	case errors.Is(err, ErrNotFound):
		return Reply{Status: StatusError, Text: err.Error(), Visibility: Ephemeral, Done: true}
	case errors.Is(err, ErrWarmingUp):
		return warmingUpReply()
	}
	return Reply{Status: StatusError, Text: "internal error (ref " + randomID(4) + ")", Visibility: Ephemeral, Done: true}
}

// warmingUpReply answers a request that came before the first marketplace
// refresh: a temporary failure the front door retries or reports.
func warmingUpReply() Reply {
	return Reply{Status: StatusError, Text: "warming up, try again in a few seconds", Visibility: Ephemeral,
		Done: true, Temporary: true, RetryAfter: WarmingUpRetryAfter}
}

// fail logs an internal error with a reference the user can quote.
func (s *Service) fail(ctx context.Context, op string, err error) Reply {
	var ue *UsageError
	var d *denial
	var ce *CapError
	if errors.As(err, &ue) || errors.As(err, &d) || errors.As(err, &ce) || errors.Is(err, ErrWarmingUp) {
		return errorReply(err)
	}
	ref := randomID(4)
	s.log.LogAttrs(ctx, slog.LevelError, op+" failed", slog.String("ref", ref), slog.Any("error", err))
	return Reply{Status: StatusError, Text: fmt.Sprintf("%s failed: %s (ref %s)", op, userMessage(err), ref), Visibility: Ephemeral, Done: true, Temporary: true}
}

// userMessage is what a user may read of an error: Clore's own conditions are
// named; anything else stays internal.
func userMessage(err error) string {
	switch {
	case errors.Is(err, clore.ErrRateLimited):
		return "Clore is rate limiting us, try again in a moment"
	case errors.Is(err, clore.ErrAuth):
		return "Clore refused the API key"
	case errors.Is(err, clore.ErrTransport), errors.Is(err, clore.ErrDatabase):
		return "Clore did not answer properly"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return "internal error"
}

// audit records one command; it never fails the command. The row of a
// command that created no job (r has no JobID: help, market, status, watch,
// refusals, usage errors) goes to the background writer, so that answering
// never waits for a commit; a job's row is written before Handle returns.
func (s *Service) audit(ctx context.Context, req Request, command string, r Reply, order *int64, price *float64) {
	s.auditRow(ctx, s.auditEntry(req, command, r, order, price), r)
}

// auditRow writes e, the row of a command answered with r; see audit.
func (s *Service) auditRow(ctx context.Context, e AuditEntry, r Reply) {
	if r.JobID == "" {
		s.audits.add(ctx, e)
		return
	}
	s.audits.write(ctx, e)
}

// AnswersFromMemory reports whether Handle answers req from memory alone,
// with no store, Clore or network call on the way: help, and a command that
// does not parse (its usage error), while the background audit writer keeps
// up (its queue less than half full; a full one would make Handle write the
// row itself). A front door may answer such a request on the goroutine that
// reads its events, as a bot with canned answers would.
func (s *Service) AnswersFromMemory(req Request) bool {
	if req.Action != nil || !s.audits.keepsUp() {
		return false
	}
	cmd, err := req.Parsed()
	return err != nil || cmd.Name == "help"
}

// AnswerFromMemory is Handle for a request that AnswersFromMemory: it
// returns Handle's reply, and false without doing anything for any other
// request. The text is parsed once, for the question and the answer.
func (s *Service) AnswerFromMemory(ctx context.Context, req Request) (Reply, bool) {
	if req.Action != nil || !s.audits.keepsUp() {
		return Reply{}, false
	}
	cmd, err := ParseRequest(req).Parsed() // the front door's parse, or one made now (a help text's is kept)
	if err == nil && cmd.Name != "help" {
		return Reply{}, false
	}
	r, _ := s.handleParsed(ctx, req, cmd, err, nil)
	return r, true
}

// FlushAudit waits until every audit row of a command answered before the
// call is written (rows of commands that create no job are written in the
// background while Run runs), or ctx ends.
func (s *Service) FlushAudit(ctx context.Context) error {
	if err := s.audits.flush(ctx); err != nil {
		return fmt.Errorf("commands: flush audit: %w", err)
	}
	return nil
}

// randomID is n random bytes, base32, lower case.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
