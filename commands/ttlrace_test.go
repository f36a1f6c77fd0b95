package commands_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
)

// listHook is a Store whose ListOrders runs a hook once, after it has read:
// what lands between the tick's read and its cancel (an extend), which the
// cancel must not overwrite.
type listHook struct {
	commands.Store
	once sync.Once
	hook func()
}

func (l *listHook) ListOrders(ctx context.Context, f commands.OrderFilter) ([]commands.Order, error) {
	orders, err := l.Store.ListOrders(ctx, f)
	if len(f.States) > 0 && f.States[0] == commands.OrderRunning {
		l.once.Do(l.hook)
	}
	return orders, err
}

// cancelHook runs a hook as the TTL's cancel is on its way to Clore.
type cancelHook struct {
	commands.Clore
	hook func()
}

func (c cancelHook) CancelOrder(ctx context.Context, id int64, issue string) error {
	c.hook()
	return c.Clore.CancelOrder(ctx, id, issue)
}

// An Extend that lands after the tick read the orders but before it
// cancels the expired one wins: the order keeps running, with its new end.
func TestExtendBetweenTickStartAndCancelWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	clock := newFakeClock()
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	ctx := context.Background()
	id := rentRunning(t, svc, "rent 4090 --hours 1")
	clock.Advance(time.Hour + time.Minute) // past the end (the TTL runs from the creation at Clore, in real time)

	var ext commands.Reply
	hooked := &listHook{Store: h.store, hook: func() {
		ext = svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("extend %d 2", id)))
	}}
	ticker := h.service(func(o *commands.Options) { o.Clock = clock; o.Store = hooked })
	tick(t, ticker)
	if ext.Status != commands.StatusOK {
		t.Fatalf("extend during the tick: %+v", ext)
	}
	o, _ := h.store.GetOrderByCloreID(ctx, id)
	if o.State != commands.OrderRunning || !o.ExpiresAt.After(clock.Now()) {
		t.Fatalf("order after the racing tick: %s, ends %s", o.State, o.ExpiresAt)
	}
	if expired, found := h.cloreOrder(t, id); !found || expired {
		t.Fatalf("order at Clore: found %v, expired %v; the extend should have won", found, expired)
	}
	if n := len(h.eventsOf(t, "order.expired")); n != 0 {
		t.Fatalf("%d order.expired events", n)
	}
}

// An Extend that arrives while the TTL's cancel is on its way to Clore is
// refused with the reason: it never reports an extension of an order that
// is being cancelled.
func TestExtendDuringTheTTLCancelIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	clock := newFakeClock()
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	ctx := context.Background()
	id := rentRunning(t, svc, "rent 4090 --hours 1")
	clock.Advance(time.Hour + time.Minute)

	var ext commands.Reply
	ticker := h.service(func(o *commands.Options) {
		o.Clock = clock
		o.Clore = cancelHook{Clore: h.client, hook: func() {
			ext = svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("extend %d 2", id)))
		}}
	})
	tick(t, ticker)
	if ext.Status != commands.StatusError || !strings.Contains(ext.Text, "cancelling") {
		t.Fatalf("extend during the cancel: %+v", ext)
	}
	o, _ := h.store.GetOrderByCloreID(ctx, id)
	if o.State != commands.OrderExpired {
		t.Fatalf("order state %s, want expired", o.State)
	}
	if evs := h.eventsOf(t, "order.expired"); len(evs) != 1 || evs[0]["reason"] != "ttl" {
		t.Fatalf("order.expired events: %v", evs)
	}
}

// A TTL cancel that a crash interrupted after its claim (the order left
// cancelling) is finished by the next tick.
func TestInterruptedTTLCancelIsFinished(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	clock := newFakeClock()
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	ctx := context.Background()
	id := rentRunning(t, svc, "rent 4090 --hours 1")
	clock.Advance(time.Hour + time.Minute)
	o, _ := h.store.GetOrderByCloreID(ctx, id)
	o.State = commands.OrderCancelling // as the claim leaves it
	if err := h.store.UpdateOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	tick(t, svc)
	if o, _ := h.store.GetOrderByCloreID(ctx, id); o.State != commands.OrderExpired {
		t.Fatalf("order state %s, want expired", o.State)
	}
	if expired, found := h.cloreOrder(t, id); !found || !expired {
		t.Fatalf("order at Clore: found %v, expired %v", found, expired)
	}
}

// While a rent provisions, the lifecycle monitor runs sooner than the tick:
// the job's my_orders polls are the shared refresh, so an order that ended
// at Clore meanwhile is recorded (order.expired, with what it spent)
// without waiting for the next tick, and every provisioning job and the
// monitor share each call.
func TestMonitorRunsSoonerWhileARentProvisions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	svc := h.service()
	ctx := context.Background()
	first := rentRunning(t, svc, "rent 4090 --spot --hours 4")
	// Outbid at Clore; no tick runs from here on.
	if err := h.client.CancelOrder(ctx, first, ""); err != nil {
		t.Fatal(err)
	}
	rentRunning(t, svc, "rent 3090 --hours 1")
	if o, _ := h.store.GetOrderByCloreID(ctx, first); o.State != commands.OrderExpired {
		t.Fatalf("the outbid order is %s after another rent provisioned; want it recorded without a tick", o.State)
	}
	evs := h.eventsOf(t, "order.expired")
	if len(evs) != 1 || evs[0]["reason"] != "outbid" {
		t.Fatalf("order.expired events: %v", evs)
	}
	if _, ok := evs[0]["spend_usd"].(float64); !ok {
		t.Fatalf("order.expired carries no spend_usd: %v", evs[0])
	}
}

// staleOrders answers the second my_orders after a create_order with the
// account's orders as they were before it: a shared refresh that left
// before the order existed.
type staleOrders struct {
	commands.Clore
	mu      sync.Mutex
	created bool
	after   int
}

func (c *staleOrders) CreateOrder(ctx context.Context, r clore.CreateOrderRequest) error {
	c.mu.Lock()
	c.created, c.after = true, 0
	c.mu.Unlock()
	return c.Clore.CreateOrder(ctx, r)
}

func (c *staleOrders) MyOrders(ctx context.Context, completed bool) ([]clore.Order, error) {
	c.mu.Lock()
	stale := false
	if c.created {
		c.after++
		stale = c.after == 2
	}
	c.mu.Unlock()
	if stale {
		return nil, nil
	}
	return c.Clore.MyOrders(ctx, completed)
}

// A provisioning rent never concludes that its order ended from a shared
// my_orders answer that predates the order: it asks Clore itself first.
func TestProvisioningIgnoresAnOrdersAnswerFromBeforeTheOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	svc := h.service(func(o *commands.Options) { o.Clore = &staleOrders{Clore: h.client} })
	rentRunning(t, svc, "rent 4090 --hours 1")
}

// An order still provisioning cannot be extended: its rent job writes the
// order when it comes online and would undo the extension.
func TestExtendWaitsUntilTheOrderRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	svc := h.service()
	ctx := context.Background()
	id := rentRunning(t, svc, "rent 4090 --hours 1")
	o, _ := h.store.GetOrderByCloreID(ctx, id)
	o.State = commands.OrderProvisioning
	if err := h.store.UpdateOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	r := svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("extend %d 1", id)))
	if r.Status != commands.StatusError || !strings.Contains(r.Text, "still provisioning") {
		t.Fatalf("extend of a provisioning order: %+v", r)
	}
	if after, _ := h.store.GetOrderByCloreID(ctx, id); !after.ExpiresAt.Equal(*o.ExpiresAt) {
		t.Fatalf("end moved from %s to %s", o.ExpiresAt, after.ExpiresAt)
	}
}
