package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// Two processes whose host clocks disagree by two hours agree on the time
// on PostgreSQL: each store's clock follows the database server's.
func TestServerClockOvercomesHostSkew(t *testing.T) {
	if !storagetest.Postgres() {
		t.Skip("PostgreSQL only: SQLite has no server clock")
	}
	ctx := context.Background()
	a, _ := newStore(t)
	b := openStore(t, a.path)
	c := openStore(t, a.path)
	b.clock.hostNow = func() time.Time { return time.Now().Add(time.Hour) }
	c.clock.hostNow = func() time.Time { return time.Now().Add(-time.Hour) }
	for _, s := range []*Store{b, c} {
		if err := s.clock.measure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tb, tc := b.now(), c.now()
	if d := tb.Sub(tc).Abs(); d > 250*time.Millisecond {
		t.Errorf("skewed stores disagree by %s", d)
	}
	if d := tb.Sub(time.Now()).Abs(); d > 250*time.Millisecond {
		t.Errorf("a skewed store is %s off the server (same host)", d)
	}
	// An injected clock still wins.
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b.Now = func() time.Time { return fixed }
	if got := b.now(); !got.Equal(fixed) {
		t.Errorf("now = %s, want the injected %s", got, fixed)
	}
}

// Rate slots and leases taken by processes whose host clocks disagree keep
// their meaning in real time: each store works on the server's clock.
func TestSkewedHostsShareSlotsAndLeases(t *testing.T) {
	if !storagetest.Postgres() {
		t.Skip("PostgreSQL only: SQLite has no server clock")
	}
	ctx := context.Background()
	a, _ := newStore(t)
	skews := []time.Duration{time.Hour, -time.Hour}
	var stores []*Store
	for _, skew := range skews {
		s := openStore(t, a.path)
		s.clock.hostNow = func() time.Time { return time.Now().Add(skew) }
		if err := s.clock.measure(ctx); err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	var real []time.Time
	for i := range 6 {
		s := stores[i%2]
		slot, err := s.ReserveSlot(ctx, "k", s.clock.hostNow(), map[string]time.Duration{"any": time.Second})
		if err != nil {
			t.Fatal(err)
		}
		real = append(real, slot.Add(-skews[i%2])) // when the host's clock reads slot
	}
	for i := 1; i < len(real); i++ {
		if d := real[i].Sub(real[i-1]); d < time.Second || d > 1100*time.Millisecond {
			t.Errorf("slot %d is %s after slot %d in real time, want 1s", i, d, i-1)
		}
	}
	// A lease of a minute taken on the fast host is not free on the slow one.
	j, _, err := a.CreateJob(ctx, commands.Job{Kind: commands.JobRent, IdempotencyKey: "k", State: commands.JobQueued})
	if err != nil {
		t.Fatal(err)
	}
	fast, slow := stores[0], stores[1]
	now := fast.clock.hostNow()
	if _, err := fast.ClaimJob(ctx, j.ID, "fast", now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	now = slow.clock.hostNow()
	if _, err := slow.ClaimJob(ctx, j.ID, "slow", now, now.Add(time.Minute)); !errors.Is(err, ErrLeased) {
		t.Errorf("the slow host claimed a live lease: %v", err)
	}
	if jobs, err := slow.ResumableJobs(ctx, now); err != nil || len(jobs) != 0 {
		t.Errorf("the slow host sees %d resumable jobs (%v), want none", len(jobs), err)
	}
	// Two minutes later in real time the lease is free for the fast host's
	// peer with its own skewed clock.
	later := fast.clock.hostNow().Add(2 * time.Minute)
	if jobs, err := fast.ResumableJobs(ctx, later); err != nil || len(jobs) != 1 {
		t.Errorf("after the lease, %d resumable jobs (%v), want 1", len(jobs), err)
	}
}
