package commands

import (
	"context"
	"time"
)

// WatchStore keeps the price watches and what the watch tick last saw
// (watch.go, watchcache.go).
type WatchStore interface {
	// CreateWatch inserts w and sets its ID, unless a watch with the same
	// non-empty IdempotencyKey exists: then w becomes that watch and
	// created is false. With limit > 0, a new watch is refused with a
	// *WatchLimitError when its owner has limit active or triggered
	// watches, counted in the same transaction.
	CreateWatch(ctx context.Context, w *Watch, limit int) (created bool, err error)
	// GetWatch returns the watch id; ErrNotFound when there is none.
	GetWatch(ctx context.Context, id int64) (Watch, error)
	// ListWatches returns the watches of owner (every owner when empty) in
	// one of states (any state when none is given), newest first.
	ListWatches(ctx context.Context, owner string, states ...string) ([]Watch, error)
	// UpdateWatch writes w (by ID), appending events in the same transaction;
	// ErrConflict when w.UpdatedAt is set and the stored watch changed since.
	UpdateWatch(ctx context.Context, w Watch, events ...Event) error
	// CancelWatch is UpdateWatch (w cancelled by its owner or an admin)
	// with rec written in the same transaction; ErrRepeated, nothing
	// written, when rec's request is recorded already.
	CancelWatch(ctx context.Context, w Watch, rec RequestRecord) error
	// WatchChanges returns, with since 0, the live watches (active or
	// triggered); otherwise every watch written after the change number
	// since, in any state. upTo is the change number the answer is current
	// to. Change numbers grow in commit order.
	WatchChanges(ctx context.Context, since int64) (ws []Watch, upTo int64, err error)
	// SaveWatchPrices records a watch tick at `at` and the last prices it
	// saw that changed since the previous tick, in one transaction.
	SaveWatchPrices(ctx context.Context, at time.Time, changed []SeenPrice) error
	// WatchPrices returns every recorded last price and the last tick's
	// time (zero: never).
	WatchPrices(ctx context.Context) (prices []SeenPrice, lastTick time.Time, err error)
}
