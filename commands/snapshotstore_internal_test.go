package commands

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
)

// snapshotStore keeps snapshots in memory; it knows no orders.
type snapshotStore struct {
	Store
	mu       sync.Mutex
	rows     map[string]storedRow
	failSave bool
}

type storedRow struct {
	data []byte
	at   time.Time
}

func newSnapshotStore() *snapshotStore { return &snapshotStore{rows: map[string]storedRow{}} }

func (s *snapshotStore) SaveSnapshot(_ context.Context, kind string, at time.Time, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failSave {
		return errors.New("disk full")
	}
	if old, ok := s.rows[kind]; !ok || !at.Before(old.at) {
		s.rows[kind] = storedRow{data, at}
	}
	return nil
}

func (s *snapshotStore) LoadSnapshot(_ context.Context, kind string) ([]byte, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rows[kind]
	if !ok {
		return nil, time.Time{}, ErrNotFound
	}
	return r.data, r.at, nil
}

func (s *snapshotStore) ListOrders(context.Context, OrderFilter) ([]Order, error) { return nil, nil }

// memClore answers the marketplace and my_orders from memory, and fails
// them while down (a Clore outage).
type memClore struct {
	Clore
	servers []clore.Server
	orders  []clore.Order
	down    atomic.Bool
}

var errCloreDown = errors.New("clore: did not answer: connection refused")

func (c *memClore) Marketplace(ctx context.Context) ([]clore.Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.down.Load() {
		return nil, errCloreDown
	}
	return c.servers, nil
}

func (c *memClore) MyOrders(ctx context.Context, _ bool) ([]clore.Order, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.down.Load() {
		return nil, errCloreDown
	}
	return c.orders, nil
}

// stepClock is a settable clock.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sandboxMarket is the sandbox's marketplace of n servers as the client
// gives it: every server with the account's renter fees (here not the
// documented ones, so that a stored snapshot that lost them would show).
func sandboxMarket(tb testing.TB, n int) []clore.Server {
	tb.Helper()
	sb, err := sandbox.New(sandbox.Options{StatePath: filepath.Join(tb.TempDir(), "sandbox.db"), APIKey: "k", Servers: n})
	if err != nil {
		tb.Fatal(err)
	}
	defer sb.Close()
	r := httptest.NewRequest("GET", "/v1/marketplace", nil)
	r.Header.Set("auth", "k")
	w := httptest.NewRecorder()
	sb.ServeHTTP(w, r)
	var resp struct {
		Servers []clore.Server `json:"servers"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp.Servers) != n {
		tb.Fatalf("marketplace: %d servers, %v", len(resp.Servers), err)
	}
	fees := clore.Fees{OnDemand: clore.Pricing{clore.CurrencyUSD: 0.05, clore.CurrencyCLORE: 0.04},
		Spot: clore.Pricing{clore.CurrencyUSD: 0.0125}, CreationOnDemand: clore.Pricing{clore.CurrencyUSD: 0.1}, FromClore: true}
	for i := range resp.Servers {
		resp.Servers[i].Fees = &fees
	}
	return resp.Servers
}

func newSnapshotService(st Store, c Clore, clock Clock) *Service {
	return New(Options{Store: st, Clore: c, Clock: clock, MarketTTL: time.Minute})
}

// A restart answers from the snapshots the last run stored: the very
// offers and orders, with their own time, marked as kept from before the
// restart until a refresh replaces them.
func TestStoredSnapshotsAnswerAfterARestart(t *testing.T) {
	st := newSnapshotStore()
	orders := []clore.Order{{ID: 7, ServerID: 70, Price: 12, Spend: 3, CreatedUnix: 1_700_000_000, Online: true},
		{ID: 8, ServerID: 80, Expired: true}}
	c := &memClore{servers: sandboxMarket(t, 300), orders: orders}
	clock := &stepClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	ctx := context.Background()

	first := newSnapshotService(st, c, clock)
	if err := errors.Join(first.RefreshMarket(ctx), first.RefreshOrders(ctx)); err != nil {
		t.Fatal(err)
	}
	if len(st.rows) != 0 {
		t.Fatal("a refresh stored its snapshot itself: SaveSnapshots does, off the tick")
	}
	if err := first.SaveSnapshots(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Minute)
	c.down.Store(true) // Clore is gone: only the store can answer
	second := newSnapshotService(st, c, clock)
	select {
	case <-second.Ready():
		t.Fatal("Ready before any snapshot")
	default:
	}
	if err := second.LoadSnapshots(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.Ready():
	default:
		t.Fatal("Ready not closed once both stored snapshots are loaded")
	}
	was, got := first.market.Load(), second.market.Load()
	if !reflect.DeepEqual(was.offers, got.offers) { // unexported fields too (USD per CLORE, fees)
		t.Fatal("the stored marketplace does not rebuild the offers the refresh published")
	}
	if !got.at.Equal(was.at) || !got.stored || was.stored {
		t.Errorf("stored snapshot at %v (stored %v), want %v (stored)", got.at, got.stored, was.at)
	}
	if lo, ok := second.liveOrderSnapshot(7); !ok || !reflect.DeepEqual(lo, orders[0]) {
		t.Errorf("stored order 7 = %+v, %v", lo, ok)
	}
	r := second.Readiness()
	if !r.Ready() || !r.MarketStored || !r.MarketAt.Equal(was.at) || r.MarketErr != nil {
		t.Errorf("Readiness = %+v", r)
	}
	if reply := second.handleMarket(ctx, &MarketArgs{}); !strings.Contains(reply.Text, "Prices as of 3m0s ago, kept from before a restart") {
		t.Errorf("market from the stored snapshot says %q", reply.Text)
	}

	// Clore is back: the refresh replaces the stored snapshot and the mark goes.
	c.down.Store(false)
	if err := second.RefreshMarket(ctx); err != nil {
		t.Fatal(err)
	}
	if reply := second.handleMarket(ctx, &MarketArgs{}); !strings.HasSuffix(reply.Text, "As of 0s ago.") {
		t.Errorf("market after the refresh says %q", reply.Text)
	}
	// A stored snapshot never replaces a fresher one.
	if err := second.LoadSnapshots(ctx); err != nil || second.market.Load().stored {
		t.Errorf("LoadSnapshots after a refresh: %v, stored %v", err, second.market.Load().stored)
	}
}

// Ready waits for both snapshots; once ready, an outage is reported as
// the refreshes' errors and every request is still answered.
func TestReadinessAndOutage(t *testing.T) {
	st := newSnapshotStore()
	c := &memClore{servers: sandboxMarket(t, 50)}
	svc := newSnapshotService(st, c, &stepClock{t: time.Now()})
	ctx := context.Background()
	ready := func() bool {
		select {
		case <-svc.Ready():
			return true
		default:
			return false
		}
	}
	if ready() || svc.Readiness().Ready() {
		t.Fatal("ready before any snapshot")
	}
	if err := svc.RefreshMarket(ctx); err != nil {
		t.Fatal(err)
	}
	if ready() || svc.Readiness().Ready() {
		t.Fatal("ready without the orders snapshot: a cancel would be refused as warming up")
	}
	if err := svc.RefreshOrders(ctx); err != nil {
		t.Fatal(err)
	}
	if !ready() || !svc.Readiness().Ready() {
		t.Fatal("not ready with both snapshots")
	}

	c.down.Store(true)
	if svc.RefreshMarket(ctx) == nil || svc.RefreshOrders(ctx) == nil {
		t.Fatal("refreshes succeeded with Clore down")
	}
	r := svc.Readiness()
	if !r.Ready() || !errors.Is(r.MarketErr, errCloreDown) || !errors.Is(r.OrdersErr, errCloreDown) {
		t.Fatalf("Readiness during the outage = %+v", r)
	}
	if _, err := svc.Market(ctx); err != nil {
		t.Errorf("Market during the outage: %v", err)
	}
	// A refresh cut short by its own context says nothing about Clore.
	c.down.Store(false)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_ = svc.RefreshMarket(cancelled)
	if r := svc.Readiness(); !errors.Is(r.MarketErr, errCloreDown) {
		t.Errorf("a cancelled refresh changed MarketErr: %v", r.MarketErr)
	}
	if err := errors.Join(svc.RefreshMarket(ctx), svc.RefreshOrders(ctx)); err != nil {
		t.Fatal(err)
	}
	if r := svc.Readiness(); r.MarketErr != nil || r.OrdersErr != nil {
		t.Errorf("Readiness after Clore came back = %+v", r)
	}
}

// A snapshot the store cannot keep or give back costs only the head start.
func TestSnapshotStoreFailures(t *testing.T) {
	st := newSnapshotStore()
	st.failSave = true
	c := &memClore{servers: sandboxMarket(t, 20)}
	svc := newSnapshotService(st, c, &stepClock{t: time.Now()})
	ctx := context.Background()
	if err := svc.RefreshMarket(ctx); err != nil {
		t.Fatalf("RefreshMarket with a failing store: %v", err)
	}
	if err := svc.SaveSnapshots(ctx); err == nil || !strings.Contains(err.Error(), "market snapshot: disk full") {
		t.Fatalf("SaveSnapshots with a failing store = %v", err)
	}
	// Tried again at the next call; then nothing is left to store.
	st.failSave = false
	if err := svc.SaveSnapshots(ctx); err != nil || len(st.rows) != 1 {
		t.Fatalf("SaveSnapshots after the store recovered = %v, %d rows", err, len(st.rows))
	}
	st.rows[snapshotMarket] = storedRow{data: []byte("not gzip"), at: time.Now()}
	if err := svc.SaveSnapshots(ctx); err != nil || string(st.rows[snapshotMarket].data) != "not gzip" {
		t.Fatalf("SaveSnapshots with nothing new = %v, stored %q", err, st.rows[snapshotMarket].data)
	}
	next := newSnapshotService(st, c, &stepClock{t: time.Now()})
	if err := next.LoadSnapshots(ctx); err != nil || next.market.Load() != nil {
		t.Fatalf("LoadSnapshots of an unreadable snapshot = %v, published %v", err, next.market.Load() != nil)
	}
}
