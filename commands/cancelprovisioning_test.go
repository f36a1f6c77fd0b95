package commands_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
)

// A provisioning order its renter cancels ends its rent job as cancelled,
// not as "ended before it came online" failed, and stays recorded as
// cancelled (issue 21).
func TestProvisioningOrderCancelledByItsRenter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *sandbox.Options) { o.ProvisionDelay = time.Minute })
	svc := h.service()
	ctx := context.Background()
	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 2"))
	if r.JobID == "" {
		t.Fatalf("rent = %+v", r)
	}
	done := make(chan commands.Job, 1)
	go func() {
		job, _ := svc.RunJob(ctx, r.JobID)
		done <- job
	}()
	var id int64
	waitFor(t, 15*time.Second, func() bool {
		orders, err := h.store.ListOrders(ctx, commands.OrderFilter{States: []string{commands.OrderProvisioning}})
		if err != nil || len(orders) == 0 || orders[0].CloreOrderID == nil {
			return false
		}
		id = *orders[0].CloreOrderID
		return true
	})
	c := svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("cancel %d", id)))
	if job, err := svc.RunJob(ctx, c.JobID); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("cancel job = %+v, %v", job, err)
	}
	var job commands.Job
	select {
	case job = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the rent job did not end after its order was cancelled")
	}
	if job.State != commands.JobCancelled || !strings.Contains(job.Error, "cancelled before it came online") {
		t.Errorf("rent job %s: %q; want cancelled", job.State, job.Error)
	}
	if o, err := h.store.GetOrderByCloreID(ctx, id); err != nil || o.State != commands.OrderCancelled {
		t.Errorf("order = %+v, %v; want cancelled", o, err)
	}
	for _, rep := range h.replies.all() {
		if rep.JobID == r.JobID && (rep.Status == commands.StatusFailed || strings.Contains(rep.Text, "ended before")) {
			t.Errorf("the rent's message says it failed: %+v", rep)
		}
	}
	events, _ := h.store.ListEvents(ctx, 0, 100)
	for _, ev := range events {
		if ev.Type == "order.failed" {
			t.Errorf("order.failed emitted for a cancelled order: %s", ev.Data)
		}
	}
}
