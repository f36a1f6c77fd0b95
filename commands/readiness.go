package commands

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Readiness is the state of the snapshots requests answer from, for
// /readyz (DESIGN.md §5): not ready before both exist; once they do, a
// refresh that fails (a Clore outage) makes the service degraded, still
// serving from the last snapshots.
type Readiness struct {
	// MarketAt and OrdersAt are when the marketplace and my_orders
	// snapshots were taken; zero before the first (refreshed, or loaded
	// from the store).
	MarketAt, OrdersAt time.Time
	// MarketStored is set while the marketplace snapshot is the one loaded
	// from the store, not refreshed since the start.
	MarketStored bool
	// MarketErr and OrdersErr are the last refresh's failure of each; nil
	// once a refresh succeeded since (or none was tried).
	MarketErr, OrdersErr error
}

// Ready reports whether every request is served: both snapshots exist, so
// none is refused as warming up.
func (r Readiness) Ready() bool { return !r.MarketAt.IsZero() && !r.OrdersAt.IsZero() }

// snapshotState is what readiness knows beyond the snapshots themselves.
type snapshotState struct {
	mu        sync.Mutex
	marketErr error // the last marketplace refresh's failure
	ordersErr error // the last my_orders refresh's failure
	ready     chan struct{}
	readyOnce sync.Once

	// The snapshots published since the last SaveSnapshots (snapshotstore.go).
	pendingMarket, pendingOrders atomic.Pointer[pendingSnapshot]
}

// readyC is the channel closed once both snapshots exist.
func (st *snapshotState) readyC() chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ready == nil {
		st.ready = make(chan struct{})
	}
	return st.ready
}

// refreshed records the outcome of a refresh in *last; a refresh cut short
// by its own context (a shutdown, a stopped job) says nothing of Clore.
func (st *snapshotState) refreshed(ctx context.Context, last *error, err error) {
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	*last = err
}

// Readiness returns the snapshots' state now.
func (s *Service) Readiness() Readiness {
	var r Readiness
	if m := s.market.Load(); m != nil {
		r.MarketAt, r.MarketStored = m.at, m.stored
	}
	if o := s.liveOrders.Load(); o != nil {
		r.OrdersAt = o.at
	}
	s.snaps.mu.Lock()
	r.MarketErr, r.OrdersErr = s.snaps.marketErr, s.snaps.ordersErr
	s.snaps.mu.Unlock()
	return r
}

// Ready is closed once both snapshots exist, refreshed or loaded from the
// store: from then on no request is refused as warming up. serve connects
// the chat sockets after it.
func (s *Service) Ready() <-chan struct{} { return s.snaps.readyC() }

// published closes Ready once both snapshots exist; every publication
// calls it.
func (s *Service) published() {
	if s.market.Load() == nil || s.liveOrders.Load() == nil {
		return
	}
	c := s.snaps.readyC()
	s.snaps.readyOnce.Do(func() { close(c) })
}
