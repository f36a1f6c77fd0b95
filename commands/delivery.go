package commands

import (
	"encoding/json"
	"time"
)

// Outbound deliveries (DESIGN.md §5): an outbox event on its way to one
// receiver (a subscriber, a request's callback_url, an incoming-webhook
// URL), retried on a schedule until a 2xx answer, then never sent again.
// The webhook door sends them and declares the store it needs; storage
// keeps them; both speak these types.

// Delivery states.
const (
	DeliveryPending   = "pending"   // due at NextAt
	DeliveryDelivered = "delivered" // a 2xx answer came back; never sent again
	DeliveryDead      = "dead"      // dead-lettered: the schedule ran out or the receiver is gone
)

// NewDelivery is one delivery to create: an outbox event, the receiver's
// URL, where its signing secret is configured ("subscriber:<url>",
// "key:<name>", "notify:<name>"; never the secret) and the webhook-id it
// keeps on every attempt.
type NewDelivery struct {
	EventID   int64
	URL       string
	SecretRef string
	MessageID string
}

// Delivery is a stored delivery with its outbox event. Zero times are
// "never".
type Delivery struct {
	ID            int64
	EventID       int64
	EventType     string
	EventData     json.RawMessage
	EventAt       time.Time
	URL           string
	SecretRef     string
	MessageID     string
	State         string // Delivery* states
	Attempts      int    // in the current schedule
	NextAt        time.Time
	LastAttemptAt time.Time
	LastStatus    int // HTTP status of the last attempt, 0 when none came back
	LastError     string
	DeliveredAt   time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// DeliveryAttempt is the outcome of one attempt at delivery ID: its new
// State (pending again at NextAt, delivered, or dead), the HTTP status (0
// when none came back) and the failure, empty on success.
type DeliveryAttempt struct {
	ID     int64
	At     time.Time
	Status int
	Error  string
	State  string
	NextAt time.Time
}
