package chat

import (
	"context"
	"errors"
	"testing"
	"time"
)

// storeFunc adapts a function to ReplayStore.
type storeFunc func(key string, now, until time.Time) (bool, error)

func (f storeFunc) ClaimReplay(_ context.Context, key string, now, until time.Time) (bool, error) {
	return f(key, now, until)
}

// Replays answers a replay to this process from memory, asks the store
// about the others, and forgets a key the store could not record, so that
// the request's retry is not taken for a replay.
func TestReplays(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	stored := map[string]bool{"restart": true} // seen by a process before
	fail := true
	calls := 0
	r := NewReplays(storeFunc(func(key string, now, until time.Time) (bool, error) {
		calls++
		if key == "flaky" && fail {
			return false, errors.New("database is locked")
		}
		if until.Sub(now) != 11*time.Minute {
			t.Errorf("kept for %s", until.Sub(now))
		}
		first := !stored[key]
		stored[key] = true
		return first, nil
	}), 11*time.Minute, 100)
	if first, err := r.First(ctx, "a", t0); !first || err != nil {
		t.Fatalf("new key: %v, %v", first, err)
	}
	if first, _ := r.First(ctx, "a", t0.Add(time.Second)); first || calls != 1 {
		t.Fatalf("a replay to this process: first %v after %d store calls", first, calls)
	}
	if first, _ := r.First(ctx, "restart", t0); first {
		t.Fatal("a request seen before the restart is new")
	}
	if _, err := r.First(ctx, "flaky", t0); err == nil {
		t.Fatal("a store failure is not reported")
	}
	fail = false
	if first, err := r.First(ctx, "flaky", t0); !first || err != nil {
		t.Fatalf("the retry after a store failure: %v, %v", first, err)
	}
}
