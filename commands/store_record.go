package commands

import (
	"context"
	"time"
)

// AuditStore appends to the audit log (auditlog.go); reading it back is
// the CLI's business, not the command layer's.
type AuditStore interface {
	// AppendAudit records e and returns its id; a zero e.At means now.
	AppendAudit(ctx context.Context, e AuditEntry) (int64, error)
	// AppendAuditBatch records es in one transaction, in order: all or none.
	AppendAuditBatch(ctx context.Context, es []AuditEntry) error
}

// RequestStore keeps the answers of keyed requests that made no job
// (RequestRecord) and the reply targets they name (once.go, target.go).
type RequestStore interface {
	// RequestAnswer returns the record of the request key made by actor;
	// ErrNotFound when there is none (never made, or purged).
	RequestAnswer(ctx context.Context, key, actor string) (RequestRecord, error)
	// PurgeRequests deletes the request records written before `before`
	// and returns how many it deleted.
	PurgeRequests(ctx context.Context, before time.Time) (int, error)
	// WipeReplyTargets drops the expiring part (ExpiringTarget) of every
	// stored reply target whose part expired at now, and returns how many
	// targets it changed.
	WipeReplyTargets(ctx context.Context, now time.Time) (int, error)
}

// EventStore writes lifecycle events that go with no other change
// (lifecycle.go's wallet notices); the changes that emit events write them
// in their own transaction.
type EventStore interface {
	// LastEventAt is when the newest outbox event of typ was written (zero: never).
	LastEventAt(ctx context.Context, typ string) (time.Time, error)
	// AppendEvents writes events to the outbox on their own.
	AppendEvents(ctx context.Context, events ...Event) error
}

// SnapshotStore keeps the last marketplace and my_orders snapshots, so that
// a restart answers at once from them (snapshotstore.go, DESIGN §7).
type SnapshotStore interface {
	// SaveSnapshot stores data, the command layer's encoding of its
	// snapshot of kind ("market", "orders") taken at `at`, in place of the
	// stored one of that kind unless that one was taken later.
	SaveSnapshot(ctx context.Context, kind string, at time.Time, data []byte) error
	// LoadSnapshot returns the stored snapshot of kind and when it was
	// taken; ErrNotFound when none is stored.
	LoadSnapshot(ctx context.Context, kind string) (data []byte, at time.Time, err error)
}
