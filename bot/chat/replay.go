package chat

import (
	"context"
	"fmt"
	"time"
)

// ReplayStore remembers signed requests durably: a replay is refused by
// another process on the same database and by this one after a restart.
// storage.Store implements it.
type ReplayStore interface {
	// ClaimReplay records key until `until` and reports whether it is new:
	// not recorded, or recorded with an expiry not after now. Concurrent
	// calls for one key see one first.
	ClaimReplay(ctx context.Context, key string, now, until time.Time) (bool, error)
}

// Replays refuses a signed request that was served before while its
// signature is still valid (a Slack request's signed message, a Discord
// interaction's id): memory answers a replay to this process at once, the
// store (when set) answers the others.
type Replays struct {
	mem   *Seen
	store ReplayStore
	keep  time.Duration
}

// NewReplays remembers keys for keep (at least the signature's window
// both ways), at most max of them in memory; store may be nil (memory
// only: tests, a process without a database).
func NewReplays(store ReplayStore, keep time.Duration, max int) *Replays {
	return &Replays{mem: NewSeen(keep, max), store: store, keep: keep}
}

// First reports whether key is new and remembers it. An error means it
// is not known: the caller refuses the request for now, and a retry of it
// is not taken for a replay.
func (r *Replays) First(ctx context.Context, key string, now time.Time) (bool, error) {
	if !r.mem.First(key, now) {
		return false, nil
	}
	if r.store == nil {
		return true, nil
	}
	first, err := r.store.ClaimReplay(ctx, key, now, now.Add(r.keep))
	if err != nil {
		r.mem.Forget(key)
		return false, fmt.Errorf("chat: replay record: %w", err)
	}
	return first, nil
}
