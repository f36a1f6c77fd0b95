package commands

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// lastSeen prefers a model still offered; with none, the one that went last.
func TestLastSeen(t *testing.T) {
	tick := time.Date(2026, 11, 23, 12, 5, 0, 0, time.UTC)
	gone1, gone2 := tick.Add(-time.Hour), tick.Add(-time.Minute)
	seen := map[priceKey]SeenPrice{
		{"A100 40GB", 1}: {Model: "A100 40GB", Count: 1, USDPerGPU: 0.9, ServerID: 1, GoneAt: &gone1},
		{"A100 80GB", 1}: {Model: "A100 80GB", Count: 1, USDPerGPU: 1.2, ServerID: 2, GoneAt: &gone2},
		{"H100", 1}:      {Model: "H100", Count: 1, USDPerGPU: 2.5, ServerID: 3},
	}
	for _, tt := range []struct {
		models []string
		want   string
	}{
		{[]string{"A100 40GB", "A100 80GB"}, "last price seen $1.20 (server 2), none offered since 2026-11-23 12:04 UTC"},
		{[]string{"A100 40GB", "H100"}, "last price seen $2.50 (server 3) at 12:05 UTC"},
		{[]string{"RTX 5090"}, "no price seen yet"},
	} {
		if got := lastSeen(seen, Watch{Models: tt.models, Count: 1}, tick); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.models, got, tt.want)
		}
	}
}

// Only what changed is written: an unchanged snapshot records nothing, a
// new price or server records that key, a key gone records its GoneAt.
func TestRecordSeenWritesOnlyChanges(t *testing.T) {
	c := &watchCache{seen: map[priceKey]SeenPrice{}}
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	idx := priceIndex{{"RTX 4090", 1}: {perGPU: 0.3, serverID: 7}, {"RTX 3090", 1}: {perGPU: 0.2, serverID: 8}}
	if n := len(c.recordSeen(idx, t0)); n != 2 {
		t.Fatalf("first tick: %d changes, want 2", n)
	}
	if n := len(c.recordSeen(idx, t0.Add(time.Minute))); n != 0 {
		t.Fatalf("same prices: %d changes, want 0", n)
	}
	idx2 := priceIndex{{"RTX 4090", 1}: {perGPU: 0.25, serverID: 9}}
	ch := c.recordSeen(idx2, t0.Add(2*time.Minute))
	if len(ch) != 2 {
		t.Fatalf("a new price and a gone key: %+v", ch)
	}
	if p := c.seen[priceKey{"RTX 3090", 1}]; p.GoneAt == nil || p.USDPerGPU != 0.2 {
		t.Fatalf("gone key: %+v", p)
	}
	if n := len(c.recordSeen(idx2, t0.Add(3*time.Minute))); n != 0 {
		t.Fatalf("gone key recorded again: %d changes", n)
	}
}

// A caller that joined a shared call whose maker was cancelled makes its
// own call rather than take that cancellation; other errors are shared.
func TestFlightJoinerOutlivesACancelledMaker(t *testing.T) {
	var f flight
	started, release := make(chan struct{}), make(chan struct{})
	makerDone := make(chan error, 1)
	go func() {
		makerDone <- f.do(context.Background(), func() error {
			close(started)
			<-release
			return fmt.Errorf("refresh: %w", context.Canceled)
		})
	}()
	<-started
	joined := make(chan error, 1)
	ran := false
	go func() {
		joined <- f.do(context.Background(), func() error { ran = true; return nil })
	}()
	// The joiner is waiting on the maker's call (or about to): release it.
	close(release)
	if err := <-makerDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("maker: %v", err)
	}
	if err := <-joined; err != nil {
		t.Fatalf("joiner got %v, want its own call's result", err)
	}
	if !ran {
		t.Fatal("the joiner took the maker's cancellation instead of calling itself")
	}
}
