package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Order states that clorebot records.
const (
	OrderCreating     = "creating"
	OrderProvisioning = "provisioning"
	OrderRunning      = "running"
	OrderCancelling   = "cancelling"
	OrderCancelled    = "cancelled"
	OrderExpired      = "expired"
	OrderFailed       = "failed"
)

// Order is clorebot's record of a Clore order it created or knows about.
type Order struct {
	ID           int64  // local id, set by the store
	CloreOrderID *int64 // nil until known (create_order does not return it)
	ServerID     int64
	GPUModel     string // canonical, e.g. "RTX 4090"
	GPUCount     int
	Currency     string
	Spot         bool
	PricePerDay  float64 // in Currency, whole server
	USDPerHour   float64 // whole order
	Image        string
	RequestedBy  string // identity, e.g. "slack:U123"
	ReplyTarget  string
	State        string // Order* constants
	CreatedAt    time.Time
	UpdatedAt    time.Time
	ExpiresAt    *time.Time // auto-cancel time; nil for never
	Error        string
	// JobID is the rent job that created the order ("" for an order made
	// another way). The store sets it when the job's update inserts the
	// order; writes of the order leave it as it is.
	JobID string
}

// OrderFilter selects orders. Zero fields select everything.
type OrderFilter struct {
	RequestedBy string
	JobID       string // the orders the rent job made or adopted
	States      []string
	Limit       int
}

// AuditEntry is one row of the audit log: who did what, where, and how it went.
// It never holds secrets.
type AuditEntry struct {
	ID         int64
	At         time.Time
	Actor      string // identity
	Platform   string
	Channel    string
	Command    string // command name and sanitised arguments
	Outcome    string // ok, denied, error, queued, confirm
	OrderID    *int64 // Clore order id
	USDPerHour *float64
	Detail     string
}

// AuditFilter selects audit rows, oldest first unless NewestFirst.
type AuditFilter struct {
	Since time.Time
	Limit int
	// NewestFirst orders the rows newest first, so that Limit keeps the
	// latest ones.
	NewestFirst bool
}

// Job states.
const (
	JobAwaitingConfirmation = "awaiting_confirmation"
	JobQueued               = "queued"
	JobRunning              = "running"
	JobSucceeded            = "succeeded"
	JobFailed               = "failed"
	JobCancelled            = "cancelled"
)

// Job kinds.
const (
	JobRent   = "rent"
	JobCancel = "cancel"
)

// Job is a durable unit of work (rent, cancel). Its Checkpoint records the
// last step reached, so that a restarted worker resumes instead of repeating.
type Job struct {
	ID             string // random, URL-safe
	Kind           string // JobRent, JobCancel
	IdempotencyKey string // unique: one key, one job
	State          string // Job* states
	Step           string // last checkpointed step, kind-specific
	RequestedBy    string
	Platform       string
	Channel        string
	ReplyTarget    string
	ReplyRef       string          // the front door's handle of the reply to update
	Params         json.RawMessage // kind-specific input
	Checkpoint     json.RawMessage // kind-specific progress
	Result         json.RawMessage // kind-specific outcome, for GET /webhook/jobs/{id}
	// USDPerHour is the spend a rent job reserves against policy.max_hourly_spend
	// while it is queued or running: its chosen offer's total per hour, its max
	// price × count before it has chosen.
	USDPerHour float64
	Error      string // user-facing failure message
	Attempts   int    // Clore failures in a row of the current step (a rent job's retryLater)
	LeaseOwner string
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Event is a lifecycle event in the outbox (order.created, order.running, ...).
type Event struct {
	ID        int64
	Type      string
	JobID     string
	OrderID   *int64 // Clore order id
	Data      json.RawMessage
	CreatedAt time.Time
}

// WatchID is the watch an event's data names (WatchTriggeredEvent's
// watch_id); false when it names none.
func (e Event) WatchID() (int64, bool) {
	var ref struct {
		WatchID *int64 `json:"watch_id"`
	}
	if json.Unmarshal(e.Data, &ref) != nil || ref.WatchID == nil {
		return 0, false
	}
	return *ref.WatchID, true
}

// Watch is a standing price watch: alert (or rent) when a GPU model is offered
// at or below a price.
type Watch struct {
	ID           int64
	Owner        string // identity
	Platform     string
	Channel      string
	ReplyTarget  string
	GPUModel     string   // the query as typed, normalised (e.g. "A100")
	Models       []string // canonical models the query resolved to; empty until resolved
	MaxUSDPerGPU float64  // USD per GPU per hour
	Count        int      // GPUs wanted
	AutoRent     bool
	// Rent is how the watch's rent is made (image, hours, spot, SSH key);
	// zero fields take the defaults.
	Rent      WatchRent
	ExpiresAt *time.Time
	State     string // Watch* states
	// IdempotencyKey is the key of the request that created the watch: one
	// key, one watch. "" for none.
	IdempotencyKey string
	// LastTriggeredAt and LastTriggerPrice describe the last trigger (nil
	// before the first); Triggers counts them.
	LastTriggeredAt  *time.Time
	LastTriggerPrice *float64 // USD per GPU per hour
	Triggers         int
	// JobID is the rent job of the last trigger: awaiting confirmation for an
	// alert watch, queued for an auto-rent watch.
	JobID string
	// Error is why the watch ended other than by its owner or its rent's
	// success (a refused auto-rent); "" otherwise.
	Error     string
	CreatedAt time.Time
	UpdatedAt time.Time

	// OwnerRoles are the owner's platform roles when the watch was created
	// (Request.Roles, e.g. "discord-role:<id>"). They only say that the
	// owner's role depended on platform roles: an auto-rent whose owner is
	// not a renter by identity alone asks the platform's RoleSource for the
	// owner's current roles when it triggers, and is refused when the
	// roles no longer make a renter or cannot be had: a role taken away
	// takes the right to rent with it.
	OwnerRoles []string
}

// SeenPrice is the last price the watch tick saw for a canonical GPU model
// and GPU count: the cheapest free offer, from Since on; GoneAt is set
// once no such offer was left (the price is then the last one seen).
type SeenPrice struct {
	Model     string
	Count     int
	USDPerGPU float64 // per GPU per hour
	ServerID  int64
	Since     time.Time
	GoneAt    *time.Time
}

// WatchRent is how a watch rents when it triggers: the rent flags a
// webhook price-alert may give. Zero fields take the defaults.
type WatchRent struct {
	Image  string  `json:"image,omitempty"`
	Hours  float64 `json:"hours,omitempty"`
	Spot   bool    `json:"spot,omitempty"`
	SSHKey string  `json:"ssh_key,omitempty"` // a public key
}

// Watch states. An active watch is armed; a triggered one waits to re-arm
// (alert) or for its rent to finish (auto-rent); the others are final.
const (
	WatchActive    = "active"
	WatchCancelled = "cancelled"
	WatchTriggered = "triggered"
	WatchExpired   = "expired"
	WatchDone      = "done" // an auto-rent watch whose rent succeeded
	// WatchRefused is an auto-rent watch whose rent policy refused when it
	// triggered (role, price cap, guardrails); Watch.Error says why.
	WatchRefused = "refused"
)

// Errors a Store returns; match with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrLeased means another worker holds the job's lease.
	ErrLeased = errors.New("job leased by another worker")
)

// JobUpdate is what a job step writes in one transaction: the job's new
// state and checkpoint, the events it emits, and the order row it creates or
// changes.
type JobUpdate struct {
	Job    Job     // State, Step, Checkpoint, Result, Error, Attempts, ReplyRef, USDPerHour are written
	Events []Event // appended to the outbox
	Order  *Order  // inserted when ID is 0, else updated; ID set on insert
	// Guard, when set, is checked in the same transaction (leaving the job
	// out through its Exclude); its error aborts the write, returned as is.
	Guard *Guard
	// Attempt, when set, records a create_order the job is about to send
	// (its JobID is the job's), watched for a late order until Attempt.Until.
	Attempt *RentAttempt
	// Settle, when not 0, settles the job's open attempts on that server:
	// Clore refused the create_order outright, so no order of it can appear.
	Settle int64
	// Hold, when set, holds Hold.ServerID for the job until its
	// create_order answers; ErrHeld (nothing written) when another queued or
	// running job holds it under a live lease, or took it after Hold.Since.
	// Any save without Hold ends the job's hold as Took says.
	Hold *ServerClaim
	// Took is what create_order's answer made of the server the job held.
	Took Took
}

// Took is what a create_order's answer made of the server its job held.
type Took int

// Answers of a create_order for the server it was sent to.
const (
	TookNothing Took = iota // no answer, or one about this job alone: the hold goes
	TookOurs                // an order (or an uncertain answer: maybe one)
	TookTheirs              // server-already-rented: someone else's
	// TookUnavailable: Clore refused the server itself (server-offline,
	// server-dont-exist, GigaSPOT, our own), which the marketplace does not
	// show: left out of every choice for UnavailableFor.
	TookUnavailable
)

// UnavailableFor is how long a server Clore refused as unavailable is left
// out of every rent's choice.
const UnavailableFor = 10 * time.Minute

// ServerClaim is a server a rent job chose (held, until its create_order
// answers) or that a create_order found rented (taken, At: the answer).
type ServerClaim struct {
	ServerID    int64
	JobID       string
	Taken       bool
	Ours        bool    // taken by one of our orders
	Unavailable bool    // refused by Clore as unavailable (TookUnavailable)
	Currency    string  // of the chosen offer
	PerHour     float64 // what an order there spends an hour, in Currency
	At          time.Time
	// Since is, for a Hold, the time of the snapshot the choice was made
	// from: a server taken after it is refused (ErrHeld).
	Since time.Time
}

// ErrHeld is SaveJob's refusal of a Hold on a server another rent holds.
var ErrHeld = errors.New("server held by another rent")

// RequestRecord is the answer of a command that changes state without
// becoming a job (extend, watch cancel, confirm), written under its
// request's idempotency key in the transaction of the change it made
// (DESIGN §7): a redelivery of the request (Slack's retry of a slow ack
// under a new envelope id, a second delivery of one button click) finds it
// and gets the first answer instead of acting again. A record answers its
// own actor only: another user's click on the same button is handled (and
// checked) as their own request.
type RequestRecord struct {
	Key     string // Request.IdempotencyKey
	Actor   string // Request.User
	Command string // the command as audited
	Answer  []byte // the reply, as the command layer encodes it
	At      time.Time
}

// ErrRepeated is a keyed write's refusal when the record of its request
// exists already: nothing was written, and RequestAnswer has the first
// answer.
var ErrRepeated = errors.New("request answered before")

// WatchLimitError is CreateWatch's refusal of a watch beyond the owner's
// limit of active watches (policy.max_watches_per_user).
type WatchLimitError struct {
	Active, Limit int
}

func (e *WatchLimitError) Error() string {
	return fmt.Sprintf("%d active watches, the limit is %d", e.Active, e.Limit)
}

// RentAttempt is a create_order a rent job sent, recorded before it is sent.
// Clore does not say which order a create_order made, and an uncertain
// answer (code 1, a timeout, a crash mid-call) may still have made one that
// my_orders shows seconds later: an order on ServerID created between
// SentAt and Until that no job adopted is this job's (DESIGN §7).
type RentAttempt struct {
	JobID    string
	ServerID int64
	SentAt   time.Time
	Until    time.Time
}

// Store is the durable state the Service needs: the composition of the
// per-noun stores below, each declaring only the methods the command layer
// calls, with its contract. storage.Store implements every one of them;
// every method is one transaction. The Outbox (SinkStore), the spend ledger
// (SpendStore) and price history (PriceHistoryStore) declare their own.
type Store interface {
	IntakeStore
	JobStore
	GuardStore
	OrderStore
	ClaimStore
	WatchStore
	AuditStore
	RequestStore
	EventStore
	SnapshotStore
}

// RoleSource is a front door's answer to "which platform roles does this
// user have now". An auto-rent watch whose owner is a renter only through
// platform roles (Watch.OwnerRoles) asks it when it triggers, since no
// interaction brings the owner's roles then; a member whose renter role was
// removed (someone who left the team) then rents nothing.
type RoleSource interface {
	// CurrentRoles returns the roles user (an identity, "discord:<id>") has
	// now where the watch was set (Watch.Channel: on Discord
	// "<guild id>/<channel id>"), named as policy lists name them
	// ("discord-role:<id>"). A user who is no longer a member there has no
	// roles: nil, nil. An error means the roles are unknown (the caller
	// refuses); it is logged, never shown in chat. It is a network call:
	// the caller holds no lock and no transaction across it.
	CurrentRoles(ctx context.Context, user, where string) ([]string, error)
}
