package commands_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// With no counted guardrail configured (all four caps 0, "unlimited"),
// an auto-rent watch whose price is met rents, and the tick goes on to its
// my_orders half: the TTL of another order is still enforced. (It used to
// dereference the nil Guard and panic the whole tick, every tick.)
func TestAutoRentWithoutCountedCapsRentsAndTheTickGoesOn(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	h.policy.MaxOrdersPerHour, h.policy.MaxActiveOrders, h.policy.MaxTeamActiveOrders, h.policy.MaxHourlySpend = 0, 0, 0, 0
	h.policy.ConfirmAbove = 0
	clock := newFakeClock()
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	ctx := context.Background()
	tick(t, svc)
	id := rentRunning(t, svc, "rent 4090 --hours 1")
	best := h.market(t).cheapest("RTX 4090")
	r := svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("watch 4090 %.4f --auto-rent", best.OnDemandUSDPerHour*1.01)))
	if r.Status != commands.StatusOK {
		t.Fatalf("watch: %+v", r)
	}
	clock.Advance(time.Hour + time.Minute) // the rented order's TTL has passed
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		_ = svc.TickMarket(ctx) // serve's watchTick: TickMarket, then TickOrders
		_ = svc.TickOrders(ctx)
	}()
	ws, err := h.store.ListWatches(ctx, "slack:ALICE")
	if err != nil || len(ws) != 1 || ws[0].Triggers != 1 {
		t.Fatalf("watches %+v, %v: want the auto-rent watch triggered once", ws, err)
	}
	o, _ := h.store.GetOrderByCloreID(ctx, id)
	if panicked != nil || o.State != commands.OrderExpired {
		t.Fatalf("tick panicked: %v; order #%d past its TTL is %s (want expired: the TTL cancel never ran)", panicked, id, o.State)
	}
}
