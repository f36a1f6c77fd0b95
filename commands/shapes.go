package commands

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// The machine-readable shapes of DESIGN.md §5, shared by every surface a
// script reads (webhook answers and callbacks, outbound event data, `exec
// --json`, the CLI's --json reports) and published as JSON Schema in
// docs/schema. Their rules: times RFC 3339 in UTC to the second, durations
// in seconds, money a number of USD rounded to 4 decimals, and an absent
// value null, never 0 or "".

// OrderInfo is an order as machines read it. ID is Clore's order id (null
// until known); SSH is set only in an answer to the order's requester.
type OrderInfo struct {
	ID         *int64       `json:"id"`
	GPU        *string      `json:"gpu"`
	Count      *int         `json:"count"`
	State      string       `json:"state"`
	USDPerHour *float64     `json:"usd_per_hour"`
	Spot       bool         `json:"spot"`
	StartedAt  *time.Time   `json:"started_at"`
	EndsAt     *time.Time   `json:"ends_at"`
	Owner      *string      `json:"owner"`
	SSH        *SSHEndpoint `json:"ssh,omitempty"`
}

// NewOrderInfo is o's machine shape, without connection details.
func NewOrderInfo(o Order) OrderInfo {
	var count *int
	if o.GPUCount > 0 {
		count = &o.GPUCount
	}
	return OrderInfo{ID: o.CloreOrderID, GPU: Nullable(o.GPUModel), Count: count, State: o.State,
		USDPerHour: USD(o.USDPerHour), Spot: o.Spot, StartedAt: UTCTime(o.CreatedAt), EndsAt: UTCTimePtr(o.ExpiresAt),
		Owner: owner(o.RequestedBy)}
}

// owner is the identity that rented an order; null for one clorebot did
// not make (an admin's cancel of a foreign order records "(not clorebot)").
func owner(requestedBy string) *string {
	if !strings.Contains(requestedBy, ":") {
		return nil
	}
	return &requestedBy
}

// JobInfo is a job as machines read it: Message says in words what its
// state means (the chat text of its last reply), Order is the order it
// created or acted on once known, Error why it failed.
type JobInfo struct {
	JobID   string     `json:"job_id"`
	Kind    string     `json:"kind"`
	State   string     `json:"state"`
	Message string     `json:"message"`
	Order   *OrderInfo `json:"order"`
	Error   *string    `json:"error"`
}

// NewJobInfo is j's machine shape with its order o (nil when none).
func NewJobInfo(j Job, o *Order) JobInfo {
	info := JobInfo{JobID: j.ID, Kind: j.Kind, State: j.State, Message: jobMessage(j, o)}
	if o != nil {
		oi := NewOrderInfo(*o)
		info.Order = &oi
	}
	if j.State == JobFailed || j.State == JobCancelled {
		info.Error = Nullable(j.Error)
	}
	return info
}

// jobMessage words a job's state for people reading a machine answer.
func jobMessage(j Job, o *Order) string {
	order := "the order"
	if o != nil && o.CloreOrderID != nil {
		order = fmt.Sprintf("Order #%d", *o.CloreOrderID)
	}
	switch j.State {
	case JobAwaitingConfirmation:
		return "The rent awaits confirmation: confirm " + j.ID + "."
	case JobQueued:
		return "The job is queued."
	case JobRunning:
		if j.Step != "" {
			return "The job is running (" + j.Step + ")."
		}
		return "The job is running."
	case JobSucceeded:
		switch j.Kind {
		case JobRent:
			return order + " is running."
		case JobCancel:
			return order + " is cancelled."
		}
		return "The job succeeded."
	case JobFailed, JobCancelled:
		if j.Error != "" {
			return j.Error
		}
	}
	return "The job is " + j.State + "."
}

// ErrorInfo is every error answer: what was wrong and, when one field of the
// request was at fault, its name.
type ErrorInfo struct {
	Error string  `json:"error"`
	Field *string `json:"field,omitempty"`
}

// OrderEvent is the data of every order.* event (order.created,
// order.running, order.failed, order.cancelled, order.expired,
// order.expiring, order.extended). It never holds secrets.
type OrderEvent struct {
	// JobID is the job that caused the event (null outside a job).
	JobID *string   `json:"job_id"`
	Order OrderInfo `json:"order"`
	// Reason is a machine word for why an order failed or ended ("ttl",
	// "outbid", "ended", "provision_timeout", "duplicate", ...).
	Reason *string `json:"reason"`
	// Error is what went wrong with the order, when more than Reason says
	// (null otherwise; the job.completed event of its job has the message).
	Error *string `json:"error"`
	// By is who cancelled (order.cancelled) or extended (order.extended) it.
	By *string `json:"by"`
	// AddedSeconds is how much an order.extended added to the order's time.
	AddedSeconds *int64 `json:"added_seconds"`
	// SpendUSD is Clore's figure of what the order cost once it ended.
	SpendUSD *float64 `json:"spend_usd"`
}

// WatchTriggeredEvent is the data of watch.triggered: a watch found an
// offer at or under its target. Message is the chat text of the alert.
type WatchTriggeredEvent struct {
	WatchID int64  `json:"watch_id"`
	Owner   string `json:"owner"`
	GPU     string `json:"gpu"`
	// Models are the canonical models the watch's query matches.
	Models              []string `json:"models"`
	Count               int      `json:"count"`
	TargetUSDPerGPUHour float64  `json:"target_usd_per_gpu_hour"`
	USDPerGPUHour       float64  `json:"usd_per_gpu_hour"`
	USDPerHour          float64  `json:"usd_per_hour"`
	ServerID            int64    `json:"server_id"`
	AutoRent            bool     `json:"auto_rent"`
	Triggers            int      `json:"triggers"`
	Message             string   `json:"message"`
	// Confirm is set when the trigger's rent job awaits confirmation (chat
	// shows Rent now, confirm:<job id>).
	Confirm bool    `json:"confirm"`
	JobID   *string `json:"job_id"`
	// WatchState and Refused say why an auto-rent watch ended at this
	// trigger (null when it did not).
	WatchState *string `json:"watch_state"`
	Refused    *string `json:"refused"`
}

// LowBalanceEvent is the data of wallet.low_balance.
type LowBalanceEvent struct {
	BalanceUSD   float64 `json:"balance_usd"`
	ThresholdUSD float64 `json:"threshold_usd"`
	Message      string  `json:"message"`
}

// USD rounds a price to 4 decimals; zero (unknown) is nil.
func USD(v float64) *float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	r := RoundUSD(v)
	return &r
}

// usdKnown is v rounded, for a figure whose zero is a value (spent
// nothing), not unknown.
func usdKnown(v float64) *float64 {
	r := RoundUSD(v)
	return &r
}

// RoundUSD rounds v to 4 decimals, the precision of every USD figure of a
// machine answer.
func RoundUSD(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// UTCTime is t in UTC to the second; the zero time is nil.
func UTCTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

// UTCTimePtr is UTCTime of *t; nil is nil.
func UTCTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return UTCTime(*t)
}

// Nullable is s, or nil for "".
func Nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// MarketModel is a GPU model's line of the marketplace summary as machines
// read it (GET /webhook/marketplace, `exec --json market`): prices are USD
// per GPU per hour, null when no offer has one.
type MarketModel struct {
	Model                    string   `json:"model"`
	Available                int      `json:"available"`
	Total                    int      `json:"total"`
	CheapestOnDemand         *float64 `json:"cheapest_on_demand"`
	CheapestSpot             *float64 `json:"cheapest_spot"`
	CheapestReliable         *float64 `json:"cheapest_reliable"`
	CheapestReliableServerID *int64   `json:"cheapest_reliable_server_id"`
	// ReliabilityFloor is the reliability (0..1) an offer needs to count
	// as reliable.
	ReliabilityFloor float64 `json:"reliability_floor"`
}

// NewMarketModels are the machine shapes of summaries (never nil).
func NewMarketModels(summaries []ModelSummary) []MarketModel {
	out := make([]MarketModel, 0, len(summaries))
	for _, m := range summaries {
		mm := MarketModel{Model: m.Model, Available: m.Available, Total: m.Total, CheapestOnDemand: USD(m.OnDemand),
			CheapestSpot: USD(m.Spot), CheapestReliable: USD(m.Reliable), ReliabilityFloor: m.ReliabilityFloorP}
		if m.ReliableServerID != 0 && mm.CheapestReliable != nil {
			id := m.ReliableServerID
			mm.CheapestReliableServerID = &id
		}
		out = append(out, mm)
	}
	return out
}

// EventOrderConnection is the outbox event type of OrderConnectionEvent.
// The outbound fan-out does not deliver it: it goes only where the webhook
// door queues it (one delivery, to the requester's callback_url), and
// storage wipes it once it arrived or after 24 h.
const EventOrderConnection = "order.connection"

// OrderConnectionEvent is the data of order.connection, the one delivery
// that brings a rent's connection details (SSH password included) to the
// callback_url of the webhook request that made it, and to nobody else.
type OrderConnectionEvent struct {
	JobID   string       `json:"job_id"`
	SSH     *SSHEndpoint `json:"ssh"`
	Message string       `json:"message"`
}

// NewOrderConnectionEvent is the order.connection data of job jobID's
// connection details p.
func NewOrderConnectionEvent(jobID string, p *PrivatePart) OrderConnectionEvent {
	ev := OrderConnectionEvent{JobID: jobID}
	if e, ok := p.SSH(); ok || e.Password != "" {
		ev.SSH = &e
	}
	if p != nil {
		var parts []string
		for _, s := range []string{p.Title, p.Text} {
			if s != "" {
				parts = append(parts, strings.TrimSuffix(s, ".")+".")
			}
		}
		ev.Message = strings.Join(parts, " ")
	}
	return ev
}

// OrderInfos are the machine shapes of orders (never nil).
func OrderInfos(orders []Order) []OrderInfo {
	out := make([]OrderInfo, 0, len(orders))
	for _, o := range orders {
		out = append(out, NewOrderInfo(o))
	}
	return out
}
