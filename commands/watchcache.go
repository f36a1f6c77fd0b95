package commands

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// watchCache is the watch tick's copy of the live watches (active or
// triggered). It is loaded once, then kept current by reading only the
// watches written since (Store.WatchChanges): a tick never reads the whole
// table, and watches made or cancelled by another process on the same
// database (clorebot exec beside serve) are seen at the next tick. Watches
// that compare the same models and count share a group, whose best offer is
// looked up once per tick. Only the tick uses it (the scheduler runs it as a
// singleton), so it needs no lock.
type watchCache struct {
	upTo   int64 // change number the cache is current to
	byID   map[int64]*cachedWatch
	live   []*cachedWatch // by ID; rebuilt when a watch comes or goes
	dirty  bool
	groups map[string]*watchGroup

	// seen is the last price per model and count (SeenPrice), loaded from
	// the store on the first tick; only changes are written back.
	seen       map[priceKey]SeenPrice
	seenLoaded bool
}

// cachedWatch is one live watch and its group.
type cachedWatch struct {
	w Watch
	g *watchGroup
}

// watchGroup is the watches comparing one set of models at one count, and
// the best offer for them in the current tick's index.
type watchGroup struct {
	key    string
	models []string
	count  int
	refs   int
	best   bestOffer
	found  bool
}

// sync brings the cache up to date with the store.
func (c *watchCache) sync(ctx context.Context, st WatchStore) error {
	ws, upTo, err := st.WatchChanges(ctx, c.upTo)
	if err != nil {
		return fmt.Errorf("commands: watch cache: %w", err)
	}
	if c.byID == nil {
		c.byID, c.groups = map[int64]*cachedWatch{}, map[string]*watchGroup{}
	}
	for _, w := range ws {
		c.put(w)
	}
	c.upTo = upTo
	if c.dirty {
		c.live = c.live[:0]
		for _, cw := range c.byID {
			c.live = append(c.live, cw)
		}
		slices.SortFunc(c.live, func(a, b *cachedWatch) int { return int(a.w.ID - b.w.ID) })
		c.dirty = false
	}
	return nil
}

// put stores w, or drops it when it is no longer live.
func (c *watchCache) put(w Watch) {
	old := c.byID[w.ID]
	if w.State != WatchActive && w.State != WatchTriggered {
		if old != nil {
			c.release(old.g)
			delete(c.byID, w.ID)
			c.dirty = true
		}
		return
	}
	key := groupKey(w.Models, max(w.Count, 1))
	if old != nil && old.g.key == key {
		old.w = w
		return
	}
	if old != nil {
		c.release(old.g)
	} else {
		old = &cachedWatch{}
		c.byID[w.ID] = old
		c.dirty = true
	}
	g := c.groups[key]
	if g == nil {
		g = &watchGroup{key: key, models: slices.Clone(w.Models), count: max(w.Count, 1)}
		c.groups[key] = g
	}
	g.refs++
	old.w, old.g = w, g
}

func (c *watchCache) release(g *watchGroup) {
	if g.refs--; g.refs == 0 {
		delete(c.groups, g.key)
	}
}

// groupKey names a set of models at a count.
func groupKey(models []string, count int) string {
	return strings.Join(models, "\x00") + "\x00" + strconv.Itoa(count)
}

// price looks every group's best offer up in idx.
func (c *watchCache) price(idx priceIndex) {
	for _, g := range c.groups {
		g.best, g.found = idx.best(g.models, g.count)
	}
}

// recordSeen compares idx with the last prices seen and returns the ones
// that changed (a new price or server, a new offer, an offer gone), keeping
// them as the new last prices.
func (c *watchCache) recordSeen(idx priceIndex, now time.Time) []SeenPrice {
	var changed []SeenPrice
	for k, b := range idx {
		old, ok := c.seen[k]
		if ok && old.GoneAt == nil && old.USDPerGPU == b.perGPU && old.ServerID == b.serverID {
			continue
		}
		p := SeenPrice{Model: k.model, Count: k.count, USDPerGPU: b.perGPU, ServerID: b.serverID, Since: now}
		c.seen[k] = p
		changed = append(changed, p)
	}
	for k, old := range c.seen {
		if _, ok := idx[k]; !ok && old.GoneAt == nil {
			at := now
			old.GoneAt = &at
			c.seen[k] = old
			changed = append(changed, old)
		}
	}
	return changed
}

// loadSeen reads the last prices from the store once.
func (c *watchCache) loadSeen(ctx context.Context, st WatchStore) error {
	if c.seenLoaded {
		return nil
	}
	prices, _, err := st.WatchPrices(ctx)
	if err != nil {
		return fmt.Errorf("commands: watch prices: %w", err)
	}
	c.seen = make(map[priceKey]SeenPrice, len(prices))
	for _, p := range prices {
		c.seen[priceKey{p.Model, p.Count}] = p
	}
	c.seenLoaded = true
	return nil
}
