package commands_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// A rent awaiting confirmation does not count; confirming it counts it, in
// the transaction that queues it, and a confirmation after confirm_ttl finds
// the rent expired.
func TestConfirmationCountsOnceConfirmedAndExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.MaxActiveOrders, h.policy.ConfirmAbove = 1, 0.01
	clock := &stepClock{}
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	ctx := context.Background()
	first := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
	second := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
	if first.Status != commands.StatusConfirm || second.Status != commands.StatusConfirm {
		t.Fatalf("awaiting confirmation counted: %+v / %+v", first, second)
	}
	if r := svc.ConfirmJob(ctx, req("slack:ALICE", ""), first.JobID); r.Status != commands.StatusQueued {
		t.Fatalf("first confirmation = %+v", r)
	}
	r := svc.ConfirmJob(ctx, req("slack:ALICE", ""), second.JobID)
	if r.Status != commands.StatusDenied || !strings.Contains(r.Text, "max_active_orders") {
		t.Fatalf("second confirmation = %+v, want refused naming max_active_orders", r)
	}
	if job, _ := svc.Job(ctx, second.JobID); job.State != commands.JobAwaitingConfirmation {
		t.Fatalf("refused confirmation changed the job: %+v", job)
	}
	clock.advance(16 * time.Minute) // past the default confirm_ttl of 15 min
	r = svc.ConfirmJob(ctx, req("slack:ALICE", ""), second.JobID)
	if r.Status != commands.StatusError || !strings.Contains(r.Text, "expired") {
		t.Fatalf("late confirmation = %+v", r)
	}
	if job, _ := svc.Job(ctx, second.JobID); job.State != commands.JobCancelled {
		t.Fatalf("expired rent = %+v, want cancelled", job)
	}
}

// stepClock is the system clock moved forward by advance.
type stepClock struct {
	mu sync.Mutex
	d  time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.d)
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.d += d
}

// The re-check before create_order leaves the job itself out (a lone rent
// under max_active_orders = 1 runs), but counts what arrived since the rent
// was accepted: then the job fails naming the cap and nothing is rented.
func TestRentRechecksBeforeCreateOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.MaxActiveOrders = 1
	svc := h.service()
	ctx := context.Background()
	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
	if r.Status != commands.StatusQueued {
		t.Fatalf("rent = %+v", r)
	}
	// An order of Alice's recorded meanwhile (another process, an adoption).
	id := int64(424242)
	if err := h.store.CreateOrder(ctx, &commands.Order{CloreOrderID: &id, ServerID: 1, RequestedBy: "slack:ALICE",
		USDPerHour: 0.1, State: commands.OrderRunning}); err != nil {
		t.Fatal(err)
	}
	job, err := svc.RunJob(ctx, r.JobID)
	if err != nil || job.State != commands.JobFailed || !strings.Contains(job.Error, "max_active_orders") {
		t.Fatalf("job = %+v, %v; want failed naming max_active_orders", job, err)
	}
	if orders := h.cloreOrders(t); len(orders) != 0 {
		t.Fatalf("rented despite the cap: %+v", orders)
	}
}
