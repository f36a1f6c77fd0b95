package sandbox

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"
)

// Sandboxes with the same seed, size and drift share one generated market;
// any difference gets its own; and a market generated afresh is the same,
// byte for byte, as the shared one (sharing changes no answer).
func TestSandboxesShareTheirMarket(t *testing.T) {
	t.Parallel()
	open := func(o Options) *Server {
		o.StatePath = filepath.Join(t.TempDir(), "state.db")
		s, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := open(Options{Seed: 11, Servers: 150, DriftPerHour: 0.02})
	b := open(Options{Seed: 11, Servers: 150, DriftPerHour: 0.02})
	if a.market != b.market {
		t.Error("same seed, size and drift: two markets generated")
	}
	for _, o := range []Options{
		{Seed: 12, Servers: 150, DriftPerHour: 0.02},
		{Seed: 11, Servers: 151, DriftPerHour: 0.02},
		{Seed: 11, Servers: 150, DriftPerHour: 0.03},
	} {
		if c := open(o); c.market == a.market {
			t.Errorf("%+v shares the market of seed 11, 150 servers, drift 0.02", o)
		}
	}
	fresh, err := newMarket(11, 150, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	busy := map[int64]bool{fresh.servers[3].id: true}
	if !bytes.Equal(fresh.renderMarketplace(at, busy, nil), a.market.renderMarketplace(at, busy, nil)) {
		t.Error("a market generated afresh differs from the shared one")
	}
}

// The cache keeps the last few markets generated: an old one is dropped and
// generated again when asked for.
func TestMarketCacheIsBounded(t *testing.T) {
	first, err := sharedMarket(21, 20, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxCachedMarkets {
		if _, err := sharedMarket(22+int64(i), 20, 0); err != nil {
			t.Fatal(err)
		}
	}
	marketCache.mu.Lock()
	n := len(marketCache.byKey)
	marketCache.mu.Unlock()
	if n > maxCachedMarkets {
		t.Errorf("%d markets cached; at most %d", n, maxCachedMarkets)
	}
	again, err := sharedMarket(21, 20, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again == first {
		t.Error("the oldest market was not dropped")
	}
}
