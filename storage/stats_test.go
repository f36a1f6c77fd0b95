package storage

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

func TestStats(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	done := createJob(t, s, newJob("a"))
	createJob(t, s, newJob("b"))
	done = claimJob(t, s, done.ID, "w1", epoch)
	clock.Advance(90 * time.Second)
	done.State = commands.JobSucceeded
	id := int64(7)
	order := &Order{CloreOrderID: &id, ServerID: 42, GPUModel: "RTX 4090", GPUCount: 2, USDPerHour: 1.5,
		State: OrderRunning, RequestedBy: "slack:U1"}
	if err := s.SaveJob(ctx, "w1", &commands.JobUpdate{Job: done, Order: order}); err != nil {
		t.Fatal(err)
	}
	ended := &Order{ServerID: 43, USDPerHour: 9, State: OrderCancelled, RequestedBy: "slack:U1"}
	if err := s.SaveJob(ctx, "w1", &commands.JobUpdate{Job: done, Order: ended}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx, []float64{60, 120})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Jobs) != 2 {
		t.Fatalf("jobs = %+v", st.Jobs)
	}
	q, ok := st.Jobs[0], st.Jobs[1]
	if q.State != commands.JobQueued || q.Count != 1 || ok.State != commands.JobSucceeded || ok.Count != 1 {
		t.Fatalf("jobs = %+v", st.Jobs)
	}
	if ok.Buckets[0] != 0 || ok.Buckets[1] != 1 || math.Abs(ok.DurationSum-90) > 0.01 {
		t.Errorf("succeeded job duration: %+v", ok)
	}
	if st.ActiveOrders != 1 || st.SpendUSDPerHour != 1.5 {
		t.Errorf("active orders %d, spend %v; want 1, 1.5", st.ActiveOrders, st.SpendUSDPerHour)
	}
}
