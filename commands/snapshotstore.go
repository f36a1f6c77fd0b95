package commands

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// Snapshot kinds in the store (Store.SaveSnapshot).
const (
	snapshotMarket = "market"
	snapshotOrders = "orders"
)

// storedMarket is the stored form of a marketplace snapshot: the servers as
// Clore described them, from which clore.Offers rebuilds the very offers
// the refresh published, and the renter fees their USD prices include (the
// client gives every server of one answer the same fees).
type storedMarket struct {
	Fees    *clore.Fees    `json:"fees,omitempty"`
	Servers []clore.Server `json:"servers"`
}

// storedOrders is the stored form of a my_orders snapshot. Clore's order
// list holds no secret (no password; SSH details are the renter's own).
type storedOrders struct {
	Orders []clore.Order `json:"orders"`
}

// encodeMarket is the stored form of servers.
func encodeMarket(servers []clore.Server) ([]byte, error) {
	m := storedMarket{Servers: servers}
	if len(servers) > 0 {
		m.Fees = servers[0].Fees
	}
	return encodeSnapshot(m)
}

// encodeSnapshot is v as gzip-compressed JSON: a 2,000-server marketplace
// (about 2 MB of JSON) keeps to a few hundred KB in the database.
func encodeSnapshot(v any) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeSnapshot reads what encodeSnapshot wrote into v.
func decodeSnapshot(data []byte, v any) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if err := json.NewDecoder(zr).Decode(v); err != nil {
		return err
	}
	return zr.Close()
}

// pendingSnapshot is a published snapshot that SaveSnapshots has not
// stored yet: its time and how to encode it.
type pendingSnapshot struct {
	kind   string
	at     time.Time
	encode func() ([]byte, error)
}

// keep hands a published snapshot to the next SaveSnapshots, in place of
// one it has not stored yet: publishing costs a pointer, never the
// encoding nor a write.
func (s *Service) keep(p *atomic.Pointer[pendingSnapshot], kind string, at time.Time, encode func() ([]byte, error)) {
	p.Store(&pendingSnapshot{kind: kind, at: at, encode: encode})
}

// SaveSnapshots stores the marketplace and my_orders snapshots published
// since its last call (nothing when none was), for LoadSnapshots at the
// next start. serve runs it on its scheduler apart from the watch tick, so
// that neither a refresh nor the alerts after it wait for the encoding
// (about 20–30 ms for a 2,000-server marketplace), and once more when it
// stops. A snapshot it failed to store is tried again at the next call
// unless a newer one replaced it.
func (s *Service) SaveSnapshots(ctx context.Context) error {
	var errs []error
	for _, p := range []*atomic.Pointer[pendingSnapshot]{&s.snaps.pendingMarket, &s.snaps.pendingOrders} {
		ps := p.Swap(nil)
		if ps == nil {
			continue
		}
		start := time.Now()
		data, err := ps.encode()
		if err == nil {
			err = s.store.SaveSnapshot(ctx, ps.kind, ps.at, data)
		}
		if err != nil {
			p.CompareAndSwap(nil, ps)
			errs = append(errs, fmt.Errorf("commands: save %s snapshot: %w", ps.kind, err))
			continue
		}
		s.log.LogAttrs(ctx, slog.LevelDebug, "snapshot stored", slog.String("kind", ps.kind),
			slog.Int("bytes", len(data)), slog.Duration("took", time.Since(start)))
	}
	return errors.Join(errs...)
}

// LoadSnapshots publishes the marketplace and my_orders snapshots the store
// kept from the last run, with the times they were taken (replies say their
// age), unless a refresh has published fresher ones already. serve calls it
// before it serves any request, so that a restart answers at once while
// the first refresh loads. A snapshot that cannot be read is logged and
// skipped (the first refresh replaces it); the error is the store's.
func (s *Service) LoadSnapshots(ctx context.Context) error {
	var errs []error
	var market storedMarket
	if at, ok, err := s.loadSnapshot(ctx, snapshotMarket, &market); err != nil {
		errs = append(errs, err)
	} else if ok {
		for i := range market.Servers {
			market.Servers[i].Fees = market.Fees
		}
		m := newMarketSnapshot(clore.Offers(market.Servers), at)
		m.stored = true
		s.market.CompareAndSwap(nil, m)
	}
	var orders storedOrders
	if at, ok, err := s.loadSnapshot(ctx, snapshotOrders, &orders); err != nil {
		errs = append(errs, err)
	} else if ok {
		byID := make(map[int64]clore.Order, len(orders.Orders))
		for _, o := range orders.Orders {
			byID[o.ID] = o
		}
		s.liveOrders.CompareAndSwap(nil, &ordersSnapshot{orders: byID, at: at})
	}
	s.published()
	return errors.Join(errs...)
}

// loadSnapshot reads the stored snapshot of kind into v; false when none
// is stored or it cannot be read.
func (s *Service) loadSnapshot(ctx context.Context, kind string, v any) (time.Time, bool, error) {
	data, at, err := s.store.LoadSnapshot(ctx, kind)
	switch {
	case errors.Is(err, ErrNotFound):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("commands: load %s snapshot: %w", kind, err)
	}
	if err := decodeSnapshot(data, v); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "stored snapshot unreadable; waiting for the first refresh",
			slog.String("kind", kind), slog.Any("error", err))
		return time.Time{}, false, nil
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "stored snapshot loaded", slog.String("kind", kind),
		slog.Time("taken_at", at), slog.Duration("age", s.clock.Now().Sub(at).Round(time.Second)))
	return at, true, nil
}
