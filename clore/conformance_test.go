package clore

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore/sandbox"
)

// cannedBackend serves a fixed sequence of answers (the last one repeating) and
// counts requests. The client suite runs against each: an httptest fake and
// the sandbox with injected answers, so both speak the same envelopes.
type cannedBackend struct {
	name  string
	start func(t *testing.T, endpoint string, answers []fakeAnswer) (calls func() int32, c *Client)
}

var cannedBackends = []cannedBackend{
	{name: "fake", start: func(t *testing.T, _ string, answers []fakeAnswer) (func() int32, *Client) {
		f, c := newFake(t, answers...)
		return f.calls.Load, c
	}},
	{name: "sandbox", start: func(t *testing.T, endpoint string, answers []fakeAnswer) (func() int32, *Client) {
		sb := newSandbox(t, sandbox.Options{Servers: 50})
		for _, a := range answers {
			sb.InjectNext(endpoint, a.status, a.body)
		}
		last := answers[len(answers)-1]
		for range 8 {
			sb.InjectNext(endpoint, last.status, last.body)
		}
		return func() int32 { return int32(len(sb.Requests())) }, newTestClient(sb.url)
	}},
}

type testSandbox struct {
	*sandbox.Server
	url string
}

func newSandbox(t *testing.T, o sandbox.Options) *testSandbox {
	t.Helper()
	if o.StatePath == "" {
		o.StatePath = filepath.Join(t.TempDir(), "sandbox.db")
	}
	srv, err := sandbox.New(o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return &testSandbox{Server: srv, url: hs.URL + "/v1"}
}

// The natural behaviour of the sandbox through the client: the order life
// cycle and every error a rent can meet.
func TestConformanceOrderLifecycle(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	sb := newSandbox(t, sandbox.Options{Servers: 300, ProvisionDelay: time.Minute, Now: clock, APIKey: "test-key"})
	c := newTestClient(sb.url)
	ctx := context.Background()

	wallets, err := c.Wallets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	balance := map[string]float64{}
	for _, w := range wallets {
		balance[w.Name] = w.Balance
	}
	if balance[CurrencyUSD] <= 0 {
		t.Fatalf("wallets = %+v", wallets)
	}
	servers, err := c.Marketplace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	offers := Offers(servers)
	free := slices.IndexFunc(offers, func(o Offer) bool {
		return !o.Rented && o.Accepts(CurrencyUSD) && o.OnDemandUSDPerHour > 0 && o.OnDemandUSDPerHour < 1 && o.Model != ""
	})
	noUSD := slices.IndexFunc(offers, func(o Offer) bool { return !o.Rented && !o.Accepts(CurrencyUSD) })
	if free < 0 || noUSD < 0 {
		t.Fatal("no suitable offers in the sandbox marketplace")
	}
	offer := offers[free]
	req := CreateOrderRequest{RentingServer: offer.ServerID, Type: OrderOnDemand, Currency: CurrencyUSD,
		Image: "cloreai/ubuntu22.04-cuda-12.4", Ports: map[string]string{"22": "tcp"}, SSHPassword: "Passw0rdPassw0rd"}
	if err := c.CreateOrder(ctx, req); err != nil {
		t.Fatalf("create_order: %v", err)
	}
	if err := c.CreateOrder(ctx, req); !errors.Is(err, ErrServerAlreadyRented) {
		t.Fatalf("second create_order = %v, want server-already-rented", err)
	}
	bad := req
	bad.RentingServer = offers[noUSD].ServerID
	if err := c.CreateOrder(ctx, bad); !errors.Is(err, ErrCurrencyNotAllowed) {
		t.Fatalf("create_order in a refused currency = %v", err)
	}

	order := findOrder(t, c, offer.ServerID, false)
	if order.Online || order.CreatedUnix != now.Unix() || order.Currency != CurrencyUSD {
		t.Errorf("fresh order = %+v", order)
	}
	advance(2 * time.Minute)
	order = findOrder(t, c, offer.ServerID, false)
	if !order.Online || len(order.PubCluster) == 0 || len(order.TCPPorts) == 0 {
		t.Errorf("provisioned order = %+v", order)
	}
	if model, _ := ParseGPU(order.Specs.GPU, order.GPUArray, order.Specs.GPURAM); model != offer.Model {
		t.Errorf("order GPU %q, offer %q", model, offer.Model)
	}

	if err := c.CancelOrder(ctx, order.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.CancelOrder(ctx, 999999999, ""); !errors.Is(err, ErrOrderDontExist) {
		t.Errorf("cancel unknown order = %v", err)
	}
	active, err := c.MyOrders(ctx, false)
	if err != nil || slices.ContainsFunc(active, func(o Order) bool { return o.ID == order.ID }) {
		t.Fatalf("active orders after cancel: %v %+v", err, active)
	}
	if done := findOrder(t, c, offer.ServerID, true); !done.Expired {
		t.Errorf("cancelled order = %+v", done)
	}
	wallets, _ = c.Wallets(ctx)
	for _, w := range wallets {
		if w.Name == CurrencyUSD && w.Balance >= balance[CurrencyUSD] {
			t.Errorf("wallet not debited: %v -> %v", balance[CurrencyUSD], w.Balance)
		}
	}

	wrong := New(Options{BaseURL: sb.url, APIKey: "wrong", Interval: time.Millisecond, CreateInterval: time.Millisecond})
	if _, err := wrong.Wallets(ctx); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong key = %v", err)
	}
}

func TestConformanceNotEnoughBalance(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{Servers: 200, InitialBalances: map[string]float64{CurrencyUSD: 0.01}})
	c := newTestClient(sb.url)
	servers, err := c.Marketplace(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	offers := Offers(servers)
	i := slices.IndexFunc(offers, func(o Offer) bool { return !o.Rented && o.Accepts(CurrencyUSD) })
	err = c.CreateOrder(context.Background(), CreateOrderRequest{RentingServer: offers[i].ServerID, Type: OrderOnDemand, Currency: CurrencyUSD, Image: "x"})
	if !errors.Is(err, ErrNotEnoughBalance) {
		t.Fatalf("err = %v", err)
	}
}

// The client's limiter keeps a rate-limiting Clore happy: concurrent callers
// and create_orders never draw a 429 from a sandbox that enforces the limits
// without tolerance, when the client keeps clorebot's margin: 100 ms, as
// 1.1 s and 5.5 s against Clore's 1 s and 5 s (the limits are scaled down
// here, the margin is not: it absorbs scheduling jitter, which does not scale).
func TestConformanceLimiterAvoidsRateLimits(t *testing.T) {
	const interval, create, margin = 100 * time.Millisecond, 300 * time.Millisecond, 100 * time.Millisecond
	sb := newSandbox(t, sandbox.Options{Servers: 200, RateLimit: true, MinInterval: interval, CreateInterval: create})
	c := New(Options{BaseURL: sb.url, APIKey: "k", Interval: interval + margin, CreateInterval: create + margin, MaxRetries: 0})
	servers, err := c.Marketplace(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	offers := Offers(servers)
	var wg sync.WaitGroup
	creates := 0
	for _, o := range offers {
		if o.Rented || !o.Accepts(CurrencyUSD) || creates == 3 {
			continue
		}
		creates++
		wg.Go(func() {
			err := c.CreateOrder(context.Background(), CreateOrderRequest{RentingServer: o.ServerID, Type: OrderOnDemand, Currency: CurrencyUSD, Image: "x"})
			if err != nil {
				t.Errorf("create_order: %v", err)
			}
		})
	}
	for range 10 {
		wg.Go(func() {
			if _, err := c.MyOrders(context.Background(), false); err != nil {
				t.Errorf("my_orders: %v", err)
			}
		})
	}
	wg.Wait()
	for _, r := range sb.Requests() {
		if r.Status == 429 {
			t.Errorf("the sandbox rate-limited %s at %v", r.Endpoint, r.At)
		}
	}
}

// Without spacing, Clore's 429 {"code":5} comes back: safe calls retry with
// backoff until they pass, create_order reports it and is not repeated.
func TestConformanceRateLimitAnswers(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{Servers: 50, RateLimit: true, MinInterval: 200 * time.Millisecond, CreateInterval: time.Minute})
	c := New(Options{BaseURL: sb.url, APIKey: "k", Interval: time.Millisecond, CreateInterval: time.Millisecond,
		MaxRetries: 8, Backoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
	ctx := context.Background()
	for range 3 {
		if _, err := c.Wallets(ctx); err != nil {
			t.Fatalf("wallets with retries: %v", err)
		}
	}
	limited := 0
	for _, r := range sb.Requests() {
		if r.Status == 429 && r.Code == CodeRateLimited {
			limited++
		}
	}
	if limited == 0 {
		t.Error("the sandbox never rate-limited the unspaced client")
	}
	_ = c.CreateOrder(ctx, CreateOrderRequest{RentingServer: 1, Type: OrderOnDemand, Currency: CurrencyUSD, Image: "x"})
	before := len(sb.Requests())
	err := c.CreateOrder(ctx, CreateOrderRequest{RentingServer: 1, Type: OrderOnDemand, Currency: CurrencyUSD, Image: "x"})
	if !errors.Is(err, ErrRateLimited) || OutcomeUnknown(err) {
		t.Errorf("second create_order within the sandbox's window = %v", err)
	}
	if n := len(sb.Requests()) - before; n != 1 {
		t.Errorf("create_order sent %d times, want once", n)
	}
}

func findOrder(t *testing.T, c *Client, serverID int64, completed bool) Order {
	t.Helper()
	orders, err := c.MyOrders(context.Background(), completed)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		if o.ServerID == serverID {
			return o
		}
	}
	t.Fatalf("no order on server %d in %+v", serverID, orders)
	return Order{}
}
