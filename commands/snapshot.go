package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// ErrWarmingUp means the marketplace snapshot (or the orders snapshot) has
// not been loaded yet: neither the first background refresh nor the store
// (LoadSnapshots) has given one. Front doors answer it as a temporary
// failure (HTTP 503 with Retry-After; chat: "warming up, try again in a few
// seconds"); /readyz is not ready until Ready is closed, so a request that
// arrives once it says ready never gets it.
var ErrWarmingUp = errors.New("commands: warming up, try again in a few seconds")

// WarmingUpRetryAfter is the Retry-After, in seconds, of an ErrWarmingUp answer.
const WarmingUpRetryAfter = 5

// marketSnapshot is the marketplace as the last refresh saw it. It is never
// changed once published: updates publish a new one.
type marketSnapshot struct {
	offers []clore.Offer
	at     time.Time
	// asked is when the call that fetched it started: a server a rent took
	// while the answer was on its way (server_claims) is newer than that,
	// and left out of the next choice.
	asked time.Time
	// stored marks the snapshot LoadSnapshots read from the store: taken
	// before this process started, not refreshed since.
	stored bool

	// An index built once per snapshot, so that a rent's intake reads the
	// offers of its models only (offersOf).
	index   sync.Once
	models  []string                 // the models on offer, sorted
	byModel map[string][]clore.Offer // offers per model, in offers' order

	// best remembers intake's best offer per want (bestFor), at most
	// maxBestCached of them.
	best       sync.Map // wantKey -> snapshotBest
	bestCached atomic.Int64
}

// maxBestCached bounds the best offers a snapshot remembers.
const maxBestCached = 256

// snapshotBest is a remembered chooseBest answer.
type snapshotBest struct {
	choice offerChoice
	found  bool
}

// wantKey identifies a want without exclusions or preference.
type wantKey struct {
	models         string
	count          int
	maxPerGPU      float64
	spot           bool
	currency       string
	minReliability float64
}

// bestFor is chooseBest over the offers of w's models, remembered for the
// snapshot's life: the snapshot never changes, and a burst of rents asks
// the same question over and over.
func (m *marketSnapshot) bestFor(w want) (offerChoice, bool) {
	if len(w.Exclude) > 0 || w.Prefer != 0 {
		return chooseBest(m.offersOf(w.Models), w, nil)
	}
	k := wantKey{strings.Join(w.Models, "\x00"), w.Count, w.MaxPerGPU, w.Spot, w.Currency, w.MinReliability}
	if v, ok := m.best.Load(k); ok {
		b := v.(snapshotBest)
		return b.choice, b.found
	}
	c, found := chooseBest(m.offersOf(w.Models), w, nil)
	if m.bestCached.Add(1) <= maxBestCached {
		m.best.Store(k, snapshotBest{c, found})
	}
	return c, found
}

// newMarketSnapshot publishes offers seen at at.
func newMarketSnapshot(offers []clore.Offer, at time.Time) *marketSnapshot {
	return &marketSnapshot{offers: offers, at: at, asked: at}
}

// buildIndex fills models and byModel once.
func (m *marketSnapshot) buildIndex() {
	m.index.Do(func() {
		m.models = models(m.offers)
		m.byModel = make(map[string][]clore.Offer, len(m.models))
		for _, o := range m.offers {
			m.byModel[o.Model] = append(m.byModel[o.Model], o)
		}
	})
}

// modelNames is the sorted list of models on offer.
func (m *marketSnapshot) modelNames() []string {
	m.buildIndex()
	return m.models
}

// offersOf is the offers of the given models (in the snapshot's order for
// one model). The slice is shared: callers must not change it.
func (m *marketSnapshot) offersOf(models []string) []clore.Offer {
	m.buildIndex()
	if len(models) == 1 {
		return m.byModel[models[0]]
	}
	var out []clore.Offer
	for _, o := range m.offers {
		if slices.Contains(models, o.Model) {
			out = append(out, o)
		}
	}
	return out
}

// ordersSnapshot is the account's orders (my_orders) as the last refresh
// saw them, by Clore order id.
type ordersSnapshot struct {
	orders map[int64]clore.Order
	at     time.Time
}

// flight runs one call of a function at a time: a caller arriving while a
// call runs waits for it and shares its outcome instead of starting another.
type flight struct {
	mu  sync.Mutex
	cur *flightCall
}

type flightCall struct {
	done chan struct{}
	err  error
}

// do runs fn unless a call is in flight, then returns that call's error. A
// caller whose ctx ends while waiting for another's call returns ctx's error;
// one whose shared call was cancelled by the caller that made it (a stopped
// job) makes its own call instead of taking that cancellation.
func (f *flight) do(ctx context.Context, fn func() error) error {
	f.mu.Lock()
	for f.cur != nil {
		c := f.cur
		f.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !errors.Is(c.err, context.Canceled) || ctx.Err() != nil {
			return c.err
		}
		f.mu.Lock()
	}
	c := &flightCall{done: make(chan struct{})}
	f.cur = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.cur = nil
		f.mu.Unlock()
		close(c.done)
	}()
	c.err = fn()
	return c.err
}

// RefreshMarket fetches the marketplace at background priority and publishes
// it as the snapshot that intake, `market` and rent selection read (and
// that SaveSnapshots keeps for the next start). Calls that overlap share one
// fetch. The watch tick (serve's refresh loop until the scheduler owns it)
// calls it; a request never does.
func (s *Service) RefreshMarket(ctx context.Context) error {
	return s.marketFlight.do(ctx, func() error {
		start := s.clock.Now()
		servers, err := s.clore.Marketplace(clore.WithPriority(ctx, clore.Background))
		s.snaps.refreshed(ctx, &s.snaps.marketErr, err)
		if err != nil {
			return fmt.Errorf("commands: refresh marketplace: %w", err)
		}
		m := newMarketSnapshot(clore.Offers(servers), s.clock.Now())
		m.asked = start
		s.market.Store(m)
		s.published()
		s.keep(&s.snaps.pendingMarket, snapshotMarket, m.at, func() ([]byte, error) { return encodeMarket(servers) })
		return nil
	})
}

// RefreshOrders fetches my_orders at background priority, publishes it for
// `status` and `cancel` (and for SaveSnapshots to keep), and
// records orders that ended at Clore (see settleEndedOrders). Calls that
// overlap share one fetch.
func (s *Service) RefreshOrders(ctx context.Context) error {
	return s.ordersFlight.do(ctx, func() error {
		live, err := s.clore.MyOrders(clore.WithPriority(ctx, clore.Background), true)
		s.snaps.refreshed(ctx, &s.snaps.ordersErr, err)
		if err != nil {
			return fmt.Errorf("commands: refresh orders: %w", err)
		}
		byID := make(map[int64]clore.Order, len(live))
		for _, o := range live {
			byID[o.ID] = o
		}
		at := s.clock.Now()
		s.liveOrders.Store(&ordersSnapshot{orders: byID, at: at})
		s.published()
		s.keep(&s.snaps.pendingOrders, snapshotOrders, at, func() ([]byte, error) { return encodeSnapshot(storedOrders{Orders: live}) })
		err = s.settleEndedOrders(ctx, byID)
		s.recordSpend(ctx, byID) // the spend ledger, from this same answer
		return err
	})
}

// settleEndedOrders marks running orders that my_orders shows as ended as
// expired, with an order.expired event. Orders a job is still working on
// (creating, provisioning, cancelling) are left to that job.
func (s *Service) settleEndedOrders(ctx context.Context, live map[int64]clore.Order) error {
	running, err := s.store.ListOrders(ctx, OrderFilter{States: []string{OrderRunning, OrderCancelling}})
	if err != nil {
		return fmt.Errorf("commands: refresh orders: %w", err)
	}
	for _, o := range running {
		if o.CloreOrderID == nil {
			continue
		}
		lo, ok := live[*o.CloreOrderID]
		if !ok || !lo.Expired {
			continue
		}
		was := o.State
		o.State = OrderExpired
		// Conditional: the TTL's cancel may be recording the same end.
		if err := s.store.UpdateOrderIf(ctx, o, was, o.ExpiresAt, s.endedEvent(o)); err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("commands: refresh orders: order %d: %w", *o.CloreOrderID, err)
		}
	}
	return nil
}

// orderEvent is an outbox event about an order outside any job.
func orderEvent(typ string, o Order, now time.Time) Event {
	return newEvent(typ, "", &o, OrderEvent{}, now)
}

// offers returns the current marketplace snapshot's offers, or ErrWarmingUp
// before the first refresh. A snapshot older than MarketTTL asks for one
// early background refresh; the caller never waits for it.
func (s *Service) offers(_ context.Context) ([]clore.Offer, error) {
	m, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	return m.offers, nil
}

// snapshot is offers with the snapshot's time.
func (s *Service) snapshot() (*marketSnapshot, error) {
	m := s.market.Load()
	if m == nil || s.clock.Now().Sub(m.at) >= s.o.MarketTTL {
		s.askEarlyRefresh()
	}
	if m == nil {
		return nil, ErrWarmingUp
	}
	return m, nil
}

// askEarlyRefresh asks the process's scheduler for one marketplace
// refresh (Options.EarlyRefresh), without waiting.
func (s *Service) askEarlyRefresh() {
	if s.o.EarlyRefresh != nil {
		s.o.EarlyRefresh()
	}
}

// RefreshMarketEarly is the early refresh a request asked for: it fetches
// the marketplace unless the snapshot has been refreshed meanwhile (then
// the request is served already).
func (s *Service) RefreshMarketEarly(ctx context.Context) error {
	if m := s.market.Load(); m != nil && s.clock.Now().Sub(m.at) < s.o.MarketTTL {
		return nil
	}
	return s.RefreshMarket(ctx)
}

// markRented publishes a snapshot in which serverID is rented, so that the
// next rent does not pick the server this one just took.
func (s *Service) markRented(serverID int64) {
	for {
		old := s.market.Load()
		if old == nil {
			return
		}
		i := slices.IndexFunc(old.offers, func(o clore.Offer) bool { return o.ServerID == serverID })
		if i < 0 || old.offers[i].Rented {
			return
		}
		offers := slices.Clone(old.offers)
		offers[i].Rented = true
		m := newMarketSnapshot(offers, old.at)
		m.asked = old.asked
		m.stored = old.stored
		if s.market.CompareAndSwap(old, m) {
			return
		}
	}
}

// liveOrderSnapshot is the order as the last my_orders refresh showed it.
func (s *Service) liveOrderSnapshot(id int64) (clore.Order, bool) {
	o := s.liveOrders.Load()
	if o == nil {
		return clore.Order{}, false
	}
	lo, ok := o.orders[id]
	return lo, ok
}

// Warm loads what req needs before it is handled, waiting on the Clore
// limiter: for one-shot processes (clorebot exec) that run no background
// refresh. Long-running processes call RefreshMarket and RefreshOrders on
// their tick instead.
func (s *Service) Warm(ctx context.Context, req Request) error {
	cmd, _ := req.Parsed()
	switch cmd.Name {
	case "market", "rent", "watch":
		return s.RefreshMarket(ctx)
	case "status", "cancel":
		return s.RefreshOrders(ctx)
	}
	return nil
}
