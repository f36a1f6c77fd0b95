package clore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore/sandbox"
)

// quirkSandbox is a sandbox on a fake clock with a client, for the behaviours
// of the real API that the sandbox reproduces on demand.
type quirkSandbox struct {
	*testSandbox
	c       *Client
	advance func(time.Duration)
	offers  []Offer
}

func newQuirkSandbox(t *testing.T) *quirkSandbox {
	t.Helper()
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	sb := newSandbox(t, sandbox.Options{Servers: 200, ProvisionDelay: -1, Now: clock, APIKey: "test-key"})
	c := newTestClient(sb.url)
	servers, err := c.Marketplace(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &quirkSandbox{testSandbox: sb, c: c, offers: Offers(servers),
		advance: func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }}
}

// free returns the i-th free offer that takes USD.
func (q *quirkSandbox) free(t *testing.T, i int) Offer {
	t.Helper()
	for _, o := range q.offers {
		if !o.Rented && o.Accepts(CurrencyUSD) && o.OnDemandUSDPerHour > 0 && o.SpotPerDay[CurrencyUSD] > 0 {
			if i == 0 {
				return o
			}
			i--
		}
	}
	t.Fatal("not enough free offers")
	return Offer{}
}

func onDemand(serverID int64) CreateOrderRequest {
	return CreateOrderRequest{RentingServer: serverID, Type: OrderOnDemand, Currency: CurrencyUSD,
		Image: "cloreai/ubuntu22.04-cuda-12.4", Ports: map[string]string{"22": "tcp"}}
}

// The client reads the odd history the sandbox serves: the legacy order in
// the older shapes decodes, the two undecodable entries are skipped.
func TestQuirkOddOrdersThroughClient(t *testing.T) {
	q := newQuirkSandbox(t)
	ids := q.AddOddOrders()
	orders, err := q.c.MyOrders(context.Background(), true)
	if err != nil {
		t.Fatalf("odd history failed my_orders: %v", err)
	}
	if len(orders) != 1 || orders[0].ID != ids.Legacy {
		t.Fatalf("orders = %+v, want the legacy one", orders)
	}
	o := orders[0]
	if len(o.PubCluster) != 1 || !slices.Equal(o.TCPPorts, PortList{"22:40123", "8888:40124"}) || !o.Expired || !o.Spot {
		t.Errorf("legacy order = %+v", o)
	}
	if n := q.c.SkippedEntries("my_orders"); n != 2 {
		t.Errorf("skipped %d entries, want 2", n)
	}
	if active, err := q.c.MyOrders(context.Background(), false); err != nil || len(active) != 0 {
		t.Errorf("active orders = %+v, %v", active, err)
	}
}

// Code 1 that rents anyway: the client sees ErrDatabase with an unknown
// outcome, and the order turns up in my_orders after the lag.
func TestQuirkCode1ButRentThroughClient(t *testing.T) {
	q := newQuirkSandbox(t)
	o := q.free(t, 0)
	q.CreateCode1ButRent(1, 8*time.Second)
	err := q.c.CreateOrder(context.Background(), onDemand(o.ServerID))
	if !errors.Is(err, ErrDatabase) || !OutcomeUnknown(err) {
		t.Fatalf("create = %v, want code 1 with an unknown outcome", err)
	}
	if orders, _ := q.c.MyOrders(context.Background(), true); len(orders) != 0 {
		t.Fatalf("order listed before the lag: %+v", orders)
	}
	q.advance(8 * time.Second)
	if got := findOrder(t, q.c, o.ServerID, false); got.ID == 0 || got.Expired {
		t.Errorf("order after the lag = %+v", got)
	}
}

// Code 2 on cancel: not retried, nothing cancelled; the next cancel works.
func TestQuirkFailCancelsThroughClient(t *testing.T) {
	q := newQuirkSandbox(t)
	o := q.free(t, 0)
	if err := q.c.CreateOrder(context.Background(), onDemand(o.ServerID)); err != nil {
		t.Fatal(err)
	}
	order := findOrder(t, q.c, o.ServerID, false)
	q.FailCancels(1, CodeInvalidInput)
	before := len(q.Requests())
	if err := q.c.CancelOrder(context.Background(), order.ID, ""); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("cancel = %v, want ErrInvalidInput", err)
	}
	if n := len(q.Requests()) - before; n != 1 {
		t.Errorf("%d cancel requests, want 1 (code 2 is not retried)", n)
	}
	if still := findOrder(t, q.c, o.ServerID, false); still.Expired {
		t.Fatal("the refused cancel ended the order")
	}
	if err := q.c.CancelOrder(context.Background(), order.ID, ""); err != nil {
		t.Fatalf("second cancel = %v", err)
	}
	if done := findOrder(t, q.c, o.ServerID, true); !done.Expired {
		t.Errorf("order after cancel = %+v", done)
	}
}

// An outbid spot order ends at Clore: expired in my_orders, and a cancel
// answers order_not_active.
func TestQuirkOutbidThroughClient(t *testing.T) {
	q := newQuirkSandbox(t)
	o := q.free(t, 0)
	req := onDemand(o.ServerID)
	req.Type, req.SpotPrice = OrderSpot, o.SpotPerDay[CurrencyUSD]*2
	if err := q.c.CreateOrder(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	order := findOrder(t, q.c, o.ServerID, false)
	if !order.Spot || !order.Online {
		t.Fatalf("spot order = %+v", order)
	}
	q.advance(30 * time.Minute)
	if err := q.Outbid(order.ID); err != nil {
		t.Fatal(err)
	}
	ended := findOrder(t, q.c, o.ServerID, true)
	if !ended.Expired || ended.Online || len(ended.PubCluster) != 0 || ended.Spend <= 0 {
		t.Errorf("outbid order = %+v", ended)
	}
	if err := q.c.CancelOrder(context.Background(), order.ID, ""); !errors.Is(err, ErrOrderNotActive) {
		t.Errorf("cancel outbid order = %v, want ErrOrderNotActive", err)
	}
}
