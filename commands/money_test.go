package commands_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
)

// Issue 19: the money path against the real Clore's rough edges. Each test
// answers as the real API has been seen to answer (shared/clore-api.md §10)
// through a double wrapped around the real client and the sandbox.

// lagging is Clore whose create_order answers an opaque code 1 (HTTP 500)
// while still creating the order, for the first code1 calls, and whose
// my_orders does not show those orders while lag is set, as community
// clients saw the real API do.
type lagging struct {
	commands.Clore
	code1   atomic.Int64 // create_orders still to answer with code 1
	lag     atomic.Bool
	creates atomic.Int64
	mu      sync.Mutex
	hidden  map[int64]bool // servers whose new orders my_orders hides while lag is set
}

func (c *lagging) CreateOrder(ctx context.Context, r clore.CreateOrderRequest) error {
	c.creates.Add(1)
	if err := c.Clore.CreateOrder(ctx, r); err != nil {
		return err
	}
	if c.code1.Add(-1) < 0 {
		return nil
	}
	c.mu.Lock()
	if c.hidden == nil {
		c.hidden = map[int64]bool{}
	}
	c.hidden[r.RentingServer] = true
	c.mu.Unlock()
	return &clore.APIError{Endpoint: "create_order", HTTPStatus: 500, Code: clore.CodeDatabase}
}

func (c *lagging) MyOrders(ctx context.Context, all bool) ([]clore.Order, error) {
	orders, err := c.Clore.MyOrders(ctx, all)
	if err != nil || !c.lag.Load() {
		return orders, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.DeleteFunc(orders, func(o clore.Order) bool { return c.hidden[o.ServerID] }), nil
}

// activeAtClore lists the account's orders that still run (or provision).
func (h *harness) activeAtClore(t *testing.T) []clore.Order {
	t.Helper()
	orders, err := h.client.MyOrders(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(orders, func(o clore.Order) bool { return o.Expired })
}

// runRent queues text as alice and runs its job to the end.
func runRent(t *testing.T, svc *commands.Service, text string) commands.Job {
	t.Helper()
	ctx := context.Background()
	r := svc.Handle(ctx, req("slack:ALICE", text))
	if r.JobID == "" {
		t.Fatalf("%s: %+v", text, r)
	}
	job, err := svc.RunJob(ctx, r.JobID)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return job
}

// Point 2: an opaque code 1 that rented anyway, with a my_orders that lags.
// Before, the job failed over after the reconcile window and rented a
// second server; the first order appeared later and nothing adopted,
// cancelled or capped it.
func TestCode1ThatRentedAnyway(t *testing.T) {
	t.Parallel()
	t.Run("the late order of a job that failed over is cancelled", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, smallMarket)
		c := &lagging{Clore: h.client}
		c.code1.Store(1)
		c.lag.Store(true)
		svc := h.service(func(o *commands.Options) { o.Clore = c })
		job := runRent(t, svc, "rent 3090")
		if job.State != commands.JobSucceeded {
			t.Fatalf("job %s: %s", job.State, job.Error)
		}
		if n := len(h.activeAtClore(t)); n != 2 {
			t.Fatalf("%d orders at Clore before the lag ends, want 2 (the code-1 one and the fail-over's)", n)
		}
		c.lag.Store(false) // my_orders shows the first order now
		// The process dies as it records the duplicate, before its cancel
		// reaches Clore; a restarted one cancels it at its first tick.
		dying := &failingCancels{Clore: c, err: fmt.Errorf("cancel_order: %w", context.Canceled)}
		dying.n.Store(1)
		_ = h.service(func(o *commands.Options) { o.Clore = dying }).Tick(context.Background())
		if n := len(h.activeAtClore(t)); n != 2 {
			t.Fatalf("%d orders at Clore after the interrupted cancel, want still 2", n)
		}
		_ = h.service(func(o *commands.Options) { o.Clore = c }).Tick(context.Background())
		active := h.activeAtClore(t)
		if len(active) != 1 {
			t.Fatalf("%d orders still run at Clore after the tick, want 1: %+v", len(active), active)
		}
		mine, _ := h.store.ListOrders(context.Background(), commands.OrderFilter{JobID: job.ID})
		if len(mine) != 2 {
			t.Fatalf("the job has %d orders recorded, want 2 (its own and the cancelled duplicate)", len(mine))
		}
		for _, o := range mine {
			switch {
			case *o.CloreOrderID == active[0].ID:
				if o.State != commands.OrderRunning {
					t.Errorf("the job's order is %s", o.State)
				}
			case o.State != commands.OrderCancelled:
				t.Errorf("the duplicate is %s, want cancelled", o.State)
			}
		}
		if evs := h.eventsOf(t, "order.cancelled"); len(evs) != 1 || evs[0]["reason"] != "duplicate" {
			t.Errorf("order.cancelled events: %v", evs)
		}
		audit, _ := h.store.ListAudit(context.Background(), commands.AuditFilter{})
		if !slices.ContainsFunc(audit, func(a commands.AuditEntry) bool { return a.Outcome == "cancelling" && a.Actor == "clorebot" }) {
			t.Errorf("no audit row for the duplicate: %+v", audit)
		}
	})

	t.Run("a late order that shows before the fail-over rents is adopted instead", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, smallMarket)
		c := &lagging{Clore: h.client}
		c.code1.Store(1)
		c.lag.Store(true)
		svc := h.service(func(o *commands.Options) {
			o.Clore = c
			o.AfterCheckpoint = func(j commands.Job) error {
				if j.Step == "" && j.State == commands.JobRunning {
					c.lag.Store(false) // back to choosing: the list caught up
				}
				return nil
			}
		})
		job := runRent(t, svc, "rent 3090")
		if job.State != commands.JobSucceeded {
			t.Fatalf("job %s: %s", job.State, job.Error)
		}
		if n := c.creates.Load(); n != 1 {
			t.Errorf("%d create_order calls, want 1", n)
		}
		if n := len(h.activeAtClore(t)); n != 1 {
			t.Errorf("%d orders at Clore, want 1", n)
		}
	})

	t.Run("the late order of a job that gave up is adopted under a TTL, across a restart", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, smallMarket)
		c := &lagging{Clore: h.client}
		c.code1.Store(1)
		c.lag.Store(true)
		clock := newFakeClock()
		opts := func(o *commands.Options) { o.Clore, o.MaxOfferAttempts, o.Clock = c, 1, clock }
		job := runRent(t, h.service(opts), "rent 3090 --hours 2")
		if job.State != commands.JobFailed {
			t.Fatalf("job %s, want failed after its one offer", job.State)
		}
		c.lag.Store(false)
		restarted := h.service(opts) // another process: the attempt is in the database
		_ = restarted.Tick(context.Background())
		mine, _ := h.store.ListOrders(context.Background(), commands.OrderFilter{JobID: job.ID})
		if len(mine) != 1 || mine[0].State != commands.OrderRunning || mine[0].ExpiresAt == nil {
			t.Fatalf("orders of the job after the tick: %+v", mine)
		}
		if d := mine[0].ExpiresAt.Sub(mine[0].CreatedAt); d != 2*time.Hour {
			t.Errorf("adopted with a TTL of %s, want the rent's 2h", d)
		}
		clock.Advance(3 * time.Hour)
		_ = restarted.Tick(context.Background())
		if n := len(h.activeAtClore(t)); n != 0 {
			t.Fatalf("%d orders still run at Clore past the adopted order's TTL", n)
		}
	})
}

// failingCancels answers the first n cancel_orders with err, as Clore's
// code 2 (invalid input) or an outage; calls counts every cancel_order.
type failingCancels struct {
	commands.Clore
	n     atomic.Int64
	err   error
	calls atomic.Int64
}

func (c *failingCancels) CancelOrder(ctx context.Context, id int64, issue string) error {
	c.calls.Add(1)
	if c.n.Add(-1) >= 0 {
		return c.err
	}
	return c.Clore.CancelOrder(ctx, id, issue)
}

// Point 3: a TTL cancel answered with code 2 was recorded as done while the
// GPU kept running, never retried. It stays cancelling and is sent again
// every tick until Clore takes it.
func TestTTLCancelRefusedIsRetriedEveryTick(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"code 2", &clore.APIError{Endpoint: "cancel_order", HTTPStatus: 200, Code: clore.CodeInvalidInput}},
		{"an outage", fmt.Errorf("cancel_order: %w", clore.ErrTransport)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, smallMarket)
			c := &failingCancels{Clore: h.client, err: tc.err}
			clock := newFakeClock()
			svc := h.service(func(o *commands.Options) { o.Clore, o.Clock = c, clock })
			id := rentRunning(t, svc, "rent 4090 --hours 1")
			c.n.Store(2)
			clock.Advance(61 * time.Minute)
			for i := range 2 {
				_ = svc.Tick(context.Background())
				o, _ := h.store.GetOrderByCloreID(context.Background(), id)
				if o.State != commands.OrderCancelling {
					t.Fatalf("tick %d: order %s after a refused cancel, want cancelling", i+1, o.State)
				}
				if expired, _ := h.cloreOrder(t, id); expired {
					t.Fatal("the double let a refused cancel through")
				}
			}
			tick(t, svc)
			o, _ := h.store.GetOrderByCloreID(context.Background(), id)
			if expired, _ := h.cloreOrder(t, id); o.State != commands.OrderExpired || !expired {
				t.Fatalf("after Clore took the cancel: stored %s, ended at Clore %v", o.State, expired)
			}
			if n := c.calls.Load(); n != 3 {
				t.Errorf("%d cancel_order calls, want 3 (one a tick)", n)
			}
		})
	}
}

// failingOrders fails my_orders while down is set, as one odd entry of the
// whole history made the strict decoder fail every call.
type failingOrders struct {
	commands.Clore
	down atomic.Bool
}

func (c *failingOrders) MyOrders(ctx context.Context, all bool) ([]clore.Order, error) {
	if c.down.Load() {
		return nil, fmt.Errorf("clore: my_orders: decode: json: cannot unmarshal string into Go struct field Order.orders.pub_cluster of type []string: %w", clore.ErrTransport)
	}
	return c.Clore.MyOrders(ctx, all)
}

// Point 1: the TTL cancel ran only after a successful my_orders refresh; a
// rented order was still running an hour past its TTL. It is sent from the
// stored order.
func TestTTLCancelDoesNotNeedMyOrders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	c := &failingOrders{Clore: h.client}
	clock := newFakeClock()
	svc := h.service(func(o *commands.Options) { o.Clore, o.Clock = c, clock })
	id := rentRunning(t, svc, "rent 4090 --hours 1")
	c.down.Store(true)
	clock.Advance(61 * time.Minute)
	if err := svc.Tick(context.Background()); err == nil {
		t.Fatal("tick reported no my_orders failure")
	}
	if expired, found := h.cloreOrder(t, id); !found || !expired {
		t.Fatalf("order at Clore past its TTL while my_orders fails: expired %v", expired)
	}
	if o, _ := h.store.GetOrderByCloreID(context.Background(), id); o.State != commands.OrderExpired {
		t.Fatalf("stored %s", o.State)
	}
}

// Point 4: with the shipped caps (max_price_per_hour 5, confirm_above 2) a
// fail-over after server-already-rented rented the next offer at up to the
// cap without asking. It stops at a confirmation with the new price.
func TestDearerFailoverAsksForConfirmation(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t) // the shipped-like caps of testPolicy
	m := h.market(t)
	cheap := m.cheapest("RTX 4090")
	m.scale(cheap.ServerID, 1/3.0) // well below every other offer, in every currency
	ctx := context.Background()
	taken := int64(0)
	svc := h.service(func(o *commands.Options) { o.Clore = takeFirst{Clore: h.client, taken: &taken} })
	m.serveNext()
	if err := svc.RefreshMarket(ctx); err != nil {
		t.Fatal(err)
	}
	r := svc.Handle(ctx, req("slack:ALICE", "rent 4090 --hours 1"))
	if r.Status != commands.StatusQueued {
		t.Fatalf("rent = %+v, want queued at %s/h", r, fmt.Sprint(cheap.OnDemandUSDPerHour))
	}
	m.serveNext() // the fail-over's fresh marketplace
	job, err := svc.RunJob(ctx, r.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if taken != cheap.ServerID {
		t.Fatalf("the first create_order went to server %d, not the quoted %d", taken, cheap.ServerID)
	}
	if job.State != commands.JobAwaitingConfirmation {
		t.Fatalf("job %s (%s) after a fail-over to a 50 %% dearer offer, want awaiting_confirmation", job.State, job.Error)
	}
	if n := len(h.cloreOrders(t)); n != 0 {
		t.Fatalf("%d orders rented without confirmation", n)
	}
	replies := h.replies.all()
	ask := replies[len(replies)-1]
	if ask.Status != commands.StatusConfirm || len(ask.Buttons) != 1 || ask.Buttons[0].ActionID != "confirm:"+job.ID ||
		!strings.Contains(ask.Text, "$") {
		t.Fatalf("the confirmation reply: %+v", ask)
	}
	c := svc.ConfirmJob(ctx, req("slack:ALICE", ""), job.ID)
	if c.Status != commands.StatusQueued {
		t.Fatalf("confirm = %+v", c)
	}
	m.serveNext()
	if job, err = svc.RunJob(ctx, job.ID); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("confirmed job %s, %v: %s", job.State, err, job.Error)
	}
	orders := h.cloreOrders(t)
	if len(orders) != 1 || orders[0].ServerID == cheap.ServerID {
		t.Fatalf("orders after the confirmation: %+v", orders)
	}
	if job.USDPerHour < cheap.OnDemandUSDPerHour/3*(1+0.10) {
		t.Errorf("the confirmed order costs %v/h; the test meant a dearer one than %v", job.USDPerHour, cheap.OnDemandUSDPerHour/3)
	}
}

// hidingOrders hides the order of server from my_orders once the job
// recorded it, as one answer missing a provisioning order; cancels counts
// the cancel_orders.
type hidingOrders struct {
	commands.Clore
	h       *harness
	cancels atomic.Int64
}

func (c *hidingOrders) MyOrders(ctx context.Context, all bool) ([]clore.Order, error) {
	orders, err := c.Clore.MyOrders(ctx, all)
	if err != nil {
		return nil, err
	}
	stored, _ := c.h.store.ListOrders(ctx, commands.OrderFilter{})
	return slices.DeleteFunc(orders, func(o clore.Order) bool {
		return slices.ContainsFunc(stored, func(s commands.Order) bool { return *s.CloreOrderID == o.ID })
	}), nil
}

func (c *hidingOrders) CancelOrder(ctx context.Context, id int64, issue string) error {
	c.cancels.Add(1)
	return c.Clore.CancelOrder(ctx, id, issue)
}

// Point 5: a provisioning order missing from one my_orders answer was marked
// failed without a cancel_order, and may have kept billing.
func TestMissingProvisioningOrderIsCancelledFirst(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket, func(o *sandbox.Options) { o.ProvisionDelay = time.Hour })
	c := &hidingOrders{Clore: h.client, h: h}
	svc := h.service(func(o *commands.Options) { o.Clore = c })
	job := runRent(t, svc, "rent 3090")
	if job.State != commands.JobFailed || !strings.Contains(job.Error, "cancelled") {
		t.Fatalf("job %s: %s", job.State, job.Error)
	}
	if c.cancels.Load() != 1 {
		t.Fatalf("%d cancel_order calls, want 1", c.cancels.Load())
	}
	if n := len(h.activeAtClore(t)); n != 0 {
		t.Fatalf("%d orders left billing", n)
	}
}

// Point 5: provisioning orders were under no TTL: an order still
// provisioning at its end is cancelled.
func TestProvisioningOrderIsUnderItsTTL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket, func(o *sandbox.Options) { o.ProvisionDelay = time.Hour })
	clock := newFakeClock()
	svc := h.service(func(o *commands.Options) {
		o.Clock, o.ProvisionTimeout = clock, 9*time.Hour
		o.AfterCheckpoint = func(j commands.Job) error {
			if j.Step == "provisioning" {
				clock.Advance(2 * time.Hour) // the rent's hour passes while it provisions
			}
			return nil
		}
	})
	job := runRent(t, svc, "rent 3090 --hours 1")
	if job.State != commands.JobFailed || !strings.Contains(job.Error, "reached its end") {
		t.Fatalf("job %s: %s", job.State, job.Error)
	}
	if n := len(h.activeAtClore(t)); n != 0 {
		t.Fatalf("%d orders left billing", n)
	}
	if evs := h.eventsOf(t, "order.expired"); len(evs) != 1 || evs[0]["reason"] != "ttl" {
		t.Errorf("order.expired events: %v", evs)
	}
}

// The provisioning deadline's cancel answered order_not_active (the order
// ended meanwhile) was retried forever; it ends the job.
func TestProvisionTimeoutOfAnEndedOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket, func(o *sandbox.Options) { o.ProvisionDelay = time.Hour })
	c := &failingCancels{Clore: h.client, err: &clore.APIError{Endpoint: "cancel_order", HTTPStatus: 200, Code: clore.CodeSeeError, Message: "order_not_active"}}
	c.n.Store(1)
	svc := h.service(func(o *commands.Options) { o.Clore, o.ProvisionTimeout = c, 300*time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090"))
	job, err := svc.RunJob(ctx, r.JobID)
	if err != nil || job.State != commands.JobFailed {
		t.Fatalf("job %+v, %v", job, err)
	}
	if !errors.Is(ctx.Err(), nil) {
		t.Fatal("the job did not end")
	}
}

// Point 5: CLORE and BTC balances were valued at the marketplace's USD
// prices, which include the renter fee: ~10 % high, so the low-balance
// alert fired late. A balance worth 5 % under the threshold at Clore's own
// rate (10 % over it with the fee) is reported.
func TestLowBalanceValuesCoinsWithoutTheRenterFee(t *testing.T) {
	t.Parallel()
	const balance = 1000.0
	h := newHarness(t, smallMarket, func(o *sandbox.Options) {
		o.InitialBalances = map[string]float64{clore.CurrencyCLORE: balance}
	})
	rate, ok := clore.USDRate(h.market(t).offers(), clore.CurrencyCLORE)
	if !ok {
		t.Fatal("no CLORE rate in the sandbox's marketplace")
	}
	h.policy.LowBalanceUSD = balance * rate / 0.95
	tick(t, h.service())
	if evs := h.eventsOf(t, "wallet.low_balance"); len(evs) != 1 {
		t.Fatalf("%d wallet.low_balance events for a balance worth %.2f USD under a %.2f threshold", len(evs), balance*rate, h.policy.LowBalanceUSD)
	}
}

// capturing keeps the create_order requests.
type capturing struct {
	commands.Clore
	mu   sync.Mutex
	reqs []clore.CreateOrderRequest
}

func (c *capturing) CreateOrder(ctx context.Context, r clore.CreateOrderRequest) error {
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.mu.Unlock()
	return c.Clore.CreateOrder(ctx, r)
}

// Point 7: autossh_entrypoint is a documented choice, clore.autossh_entrypoint
// (off by default: it replaces the image's own entrypoint).
func TestAutoSSHEntrypointIsSentWhenConfigured(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		h := newHarness(t, smallMarket)
		c := &capturing{Clore: h.client}
		svc := h.service(func(o *commands.Options) { o.Clore, o.AutoSSH = c, on })
		if job := runRent(t, svc, "rent 3090"); job.State != commands.JobSucceeded {
			t.Fatalf("job %s: %s", job.State, job.Error)
		}
		if len(c.reqs) != 1 || c.reqs[0].AutoSSH != on {
			t.Fatalf("AutoSSH %v: create_order requests %+v", on, c.reqs)
		}
	}
}

// The same rough edges from the sandbox itself, through the real client on
// loopback: odd history entries, a code 1 that rents with a lagging list, a
// cancel answered code 2, and a spot order outbid.
func TestSandboxRoughEdgesThroughTheRealClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("odd entries in the history do not stop the TTL cancel", func(t *testing.T) {
		t.Parallel()
		h := newSandboxHarness(t)
		h.sb.AddOddOrders()
		clock := newFakeClock()
		svc := h.service(func(o *commands.Options) { o.Clock = clock })
		id := rentRunning(t, svc, "rent 4090 --hours 1")
		clock.Advance(61 * time.Minute)
		tick(t, svc) // no error: the odd entries are skipped and counted
		if expired, _ := h.cloreOrder(t, id); !expired {
			t.Fatal("order not cancelled at its TTL")
		}
		if n := h.client.SkippedEntries("my_orders"); n == 0 {
			t.Error("no skipped my_orders entry counted")
		}
	})
	t.Run("code 1 that rented, list lagging: one order stays", func(t *testing.T) {
		t.Parallel()
		h := newSandboxHarness(t)
		h.sb.CreateCode1ButRent(1, time.Second)
		svc := h.service()
		job := runRent(t, svc, "rent 3090")
		if job.State != commands.JobSucceeded {
			t.Fatalf("job %s: %s", job.State, job.Error)
		}
		time.Sleep(1100 * time.Millisecond) // the list catches up
		_ = svc.Tick(ctx)
		if active := h.activeAtClore(t); len(active) != 1 {
			t.Fatalf("%d orders run at Clore, want 1", len(active))
		}
		if evs := h.eventsOf(t, "order.cancelled"); len(evs) != 1 || evs[0]["reason"] != "duplicate" {
			t.Errorf("order.cancelled events: %v", evs)
		}
	})
	t.Run("a TTL cancel answered code 2 is sent again next tick", func(t *testing.T) {
		t.Parallel()
		h := newSandboxHarness(t)
		clock := newFakeClock()
		svc := h.service(func(o *commands.Options) { o.Clock = clock })
		id := rentRunning(t, svc, "rent 4090 --hours 1")
		h.sb.FailCancels(1, 2)
		clock.Advance(61 * time.Minute)
		_ = svc.Tick(ctx)
		if o, _ := h.store.GetOrderByCloreID(ctx, id); o.State != commands.OrderCancelling {
			t.Fatalf("after a code-2 cancel the order is %s, want cancelling", o.State)
		}
		tick(t, svc)
		if expired, _ := h.cloreOrder(t, id); !expired {
			t.Fatal("order still runs at Clore")
		}
	})
	t.Run("a spot order outbid is recorded as such", func(t *testing.T) {
		t.Parallel()
		h := newSandboxHarness(t)
		svc := h.service()
		id := rentRunning(t, svc, "rent 4090 --spot --hours 2")
		if err := h.sb.Outbid(id); err != nil {
			t.Fatal(err)
		}
		tick(t, svc)
		if evs := h.eventsOf(t, "order.expired"); len(evs) != 1 || evs[0]["reason"] != "outbid" {
			t.Fatalf("order.expired events: %v", evs)
		}
	})
}
