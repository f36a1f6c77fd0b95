package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// usageOf counts the usage a guard for who (excluding exclude) sees.
func usageOf(t *testing.T, s *Store, who, exclude string, since time.Time) commands.GuardUsage {
	t.Helper()
	got, err := s.GuardUsage(context.Background(), commands.Guard{Who: who, Exclude: exclude, Since: since, Team: true})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// What the guardrails count, as DESIGN §5 lists it.
func TestGuardUsageCountsWhatDesignLists(t *testing.T) {
	s, clock := newStore(t)
	ctx := context.Background()
	now := clock.Now()
	add := func(key, who, state string, usd float64, created time.Time) commands.Job {
		j := commands.Job{Kind: commands.JobRent, IdempotencyKey: key, State: state, RequestedBy: who,
			USDPerHour: usd, CreatedAt: created}
		stored, _, err := s.CreateJob(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		return stored
	}
	queued := add("q", "a", commands.JobQueued, 2, now)
	running := add("r", "a", commands.JobRunning, 3, now)
	add("w", "a", commands.JobAwaitingConfirmation, 100, now)            // not counted until confirmed
	add("x", "a", commands.JobCancelled, 100, now)                       // expired confirmation
	add("old", "a", commands.JobSucceeded, 0, now.Add(-2*time.Hour))     // outside the hour
	add("done", "a", commands.JobSucceeded, 0, now.Add(-10*time.Minute)) // accepted this hour
	add("b1", "b", commands.JobQueued, 1, now)
	if _, _, err := s.CreateJob(ctx, commands.Job{Kind: commands.JobCancel, IdempotencyKey: "c", State: commands.JobQueued, RequestedBy: "a"}); err != nil {
		t.Fatal(err)
	}
	// The running job has created its order: it counts once, as the job.
	if _, err := s.ClaimJob(ctx, running.ID, "w1", now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	id1 := int64(1)
	running.State = commands.JobRunning
	if err := s.SaveJob(ctx, "w1", &commands.JobUpdate{Job: running, Order: &commands.Order{CloreOrderID: &id1,
		ServerID: 1, RequestedBy: "a", USDPerHour: 3, State: commands.OrderProvisioning}}); err != nil {
		t.Fatal(err)
	}
	// Orders on their own: one running (counted), one ended (not).
	for i, st := range []string{commands.OrderRunning, commands.OrderExpired} {
		id := int64(10 + i)
		if err := s.CreateOrder(ctx, &commands.Order{CloreOrderID: &id, ServerID: id, RequestedBy: "a", USDPerHour: 5, State: st}); err != nil {
			t.Fatal(err)
		}
	}
	since := now.Add(-time.Hour)
	want := commands.GuardUsage{ActiveOrders: 3, TeamActiveOrders: 4, OrdersLastHour: 3, TeamUSDPerHour: 2 + 3 + 1 + 5}
	if got := usageOf(t, s, "a", "", since); got != want {
		t.Errorf("usage = %+v, want %+v", got, want)
	}
	// A job re-checking itself is left out.
	want = commands.GuardUsage{ActiveOrders: 2, TeamActiveOrders: 3, OrdersLastHour: 2, TeamUSDPerHour: 3 + 1 + 5}
	if got := usageOf(t, s, "a", queued.ID, since); got != want {
		t.Errorf("usage without the job itself = %+v, want %+v", got, want)
	}
	// Without team totals, only the requester's counts.
	mine, err := s.GuardUsage(ctx, commands.Guard{Who: "a", Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if want := (commands.GuardUsage{ActiveOrders: 3, OrdersLastHour: 3}); mine != want {
		t.Errorf("per-person usage = %+v, want %+v", mine, want)
	}
}

// Concurrent guarded inserts from several Stores on one file are checked
// one after the other: a cap of 1 admits exactly one.
func TestCreateJobGuardedIsAtomic(t *testing.T) {
	path := migratedDBPath(t)
	first, _ := newStoreAt(t, path)
	stores := []*Store{first, openStore(t, path), openStore(t, path)}
	capErr := &commands.CapError{Cap: "max_active_orders", Limit: 1}
	g := &commands.Guard{Who: "a", Since: time.Now().Add(-time.Hour), Check: func(u commands.GuardUsage) error {
		if u.ActiveOrders >= 1 {
			return capErr
		}
		return nil
	}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, refused, admitted := 0, 0, ""
	for i := range 24 {
		wg.Go(func() {
			j := commands.Job{Kind: commands.JobRent, IdempotencyKey: fmt.Sprint("k", i), State: commands.JobQueued, RequestedBy: "a"}
			_, ok, err := stores[i%len(stores)].CreateJobGuarded(context.Background(), j, g)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, capErr):
				refused++
			case err != nil:
				t.Error(err)
			case ok:
				created++
				admitted = j.IdempotencyKey
			}
		})
	}
	wg.Wait()
	if created != 1 || refused != 23 {
		t.Fatalf("created %d, refused %d; want 1 and 23", created, refused)
	}
	// A duplicate of the admitted key gets its job back, unchecked.
	stored, ok, err := stores[1].CreateJobGuarded(context.Background(), commands.Job{Kind: commands.JobRent, IdempotencyKey: admitted,
		State: commands.JobQueued, RequestedBy: "a"}, g)
	if err != nil || ok || stored.IdempotencyKey != admitted {
		t.Fatalf("duplicate = %+v, %v, %v", stored, ok, err)
	}
}

// RenewLease extends only the owner's own lease, expired or not; it never
// takes a lease another worker holds or that was released.
func TestRenewLease(t *testing.T) {
	s, clock := newStore(t)
	ctx := context.Background()
	j, _, err := s.CreateJob(ctx, commands.Job{Kind: commands.JobRent, IdempotencyKey: "k", State: commands.JobQueued})
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	if _, err := s.ClaimJob(ctx, j.ID, "a", now, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.RenewLease(ctx, j.ID, "a", now.Add(time.Minute)); err != nil {
		t.Fatalf("owner renewing = %v", err)
	}
	if err := s.RenewLease(ctx, j.ID, "b", now.Add(time.Minute)); !errors.Is(err, ErrLeased) {
		t.Fatalf("another renewing = %v, want ErrLeased", err)
	}
	later := now.Add(time.Hour) // a's lease lapsed; b takes the job
	if _, err := s.ClaimJob(ctx, j.ID, "b", later, later.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RenewLease(ctx, j.ID, "a", later.Add(time.Minute)); !errors.Is(err, ErrLeased) {
		t.Fatalf("renewing a lease taken over = %v, want ErrLeased", err)
	}
	if err := s.ReleaseJob(ctx, j.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenewLease(ctx, j.ID, "a", later.Add(time.Minute)); !errors.Is(err, ErrLeased) {
		t.Fatalf("renewing a released lease = %v, want ErrLeased", err)
	}
	if err := s.RenewLease(ctx, "nope", "a", later); !errors.Is(err, ErrNotFound) {
		t.Fatalf("renewing a missing job = %v, want ErrNotFound", err)
	}
}
