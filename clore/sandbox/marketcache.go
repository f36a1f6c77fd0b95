package sandbox

import "sync"

// marketKey is what a generated market depends on.
type marketKey struct {
	seed  int64
	n     int
	drift float64
}

// maxCachedMarkets bounds the markets kept for reuse: a process rarely runs
// more than a few differently seeded sandboxes, and a 2,000-server market
// holds a few megabytes.
const maxCachedMarkets = 4

// marketCache keeps recently generated markets. A market is immutable after
// newMarket, so every sandbox of the process with the same seed, size and
// drift shares one: a process (a test binary, most of all) that starts many
// sandboxes generates and renders the static JSON of each server once.
var marketCache struct {
	mu    sync.Mutex
	order []marketKey // oldest first
	byKey map[marketKey]*marketEntry
}

// marketEntry is one cached market; once guards its generation so that
// sandboxes starting together generate it once, without holding the cache lock.
type marketEntry struct {
	once sync.Once
	m    *market
	err  error
}

// sharedMarket returns the market of newMarket(seed, n, driftPerHour),
// generated once per process while it is among the last few generated.
func sharedMarket(seed int64, n int, driftPerHour float64) (*market, error) {
	k := marketKey{seed, n, driftPerHour}
	marketCache.mu.Lock()
	e := marketCache.byKey[k]
	if e == nil {
		if marketCache.byKey == nil {
			marketCache.byKey = make(map[marketKey]*marketEntry)
		}
		if len(marketCache.order) >= maxCachedMarkets {
			delete(marketCache.byKey, marketCache.order[0])
			marketCache.order = marketCache.order[1:]
		}
		e = &marketEntry{}
		marketCache.byKey[k] = e
		marketCache.order = append(marketCache.order, k)
	}
	marketCache.mu.Unlock()
	e.once.Do(func() { e.m, e.err = newMarket(seed, n, driftPerHour) })
	return e.m, e.err
}
