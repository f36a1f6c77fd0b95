package commands

import (
	"sync"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// priceKey selects the offers a watch compares: a canonical GPU model and
// an exact GPU count, as rent chooses them.
type priceKey struct {
	model string
	count int
}

// bestOffer is the cheapest free offer of a priceKey.
type bestOffer struct {
	perGPU   float64 // on-demand USD per GPU per hour, cheapest accepted currency
	serverID int64
}

// priceIndex is the cheapest offer by model and count in one marketplace
// snapshot: the watch tick looks every watch up in it instead of scanning
// the offers once per watch.
type priceIndex map[priceKey]bestOffer

// newPriceIndex indexes the free offers at or above the reliability floor.
func newPriceIndex(offers []clore.Offer, floor float64) priceIndex {
	idx := make(priceIndex, 128)
	for i := range offers {
		o := &offers[i]
		if o.Rented || o.Model == "" || o.GPUCount <= 0 || o.OnDemandUSDPerHour <= 0 || o.Reliability < floor {
			continue
		}
		k := priceKey{o.Model, o.GPUCount}
		p := o.OnDemandUSDPerHour / float64(o.GPUCount)
		if b, ok := idx[k]; !ok || p < b.perGPU || p == b.perGPU && o.ServerID < b.serverID {
			idx[k] = bestOffer{perGPU: p, serverID: o.ServerID}
		}
	}
	return idx
}

// best is the cheapest offer of any of models with count GPUs.
func (idx priceIndex) best(models []string, count int) (bestOffer, bool) {
	var out bestOffer
	found := false
	for _, m := range models {
		if b, ok := idx[priceKey{m, count}]; ok && (!found || b.perGPU < out.perGPU) {
			out, found = b, true
		}
	}
	return out, found
}

// watchIndex caches the price index of the newest snapshot, for the tick
// and for `watch list`.
type watchIndex struct {
	mu   sync.Mutex
	snap *marketSnapshot
	idx  priceIndex
}

// priceIndex returns the index of the current snapshot and its time, or
// ErrWarmingUp.
func (s *Service) priceIndex() (priceIndex, time.Time, error) {
	snap, err := s.snapshot()
	if err != nil {
		return nil, time.Time{}, err
	}
	c := &s.watchIdx
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != snap {
		c.snap, c.idx = snap, newPriceIndex(snap.offers, s.policy.MinReliability)
	}
	return c.idx, snap.at, nil
}

// watchStep is what one tick does with one watch.
type watchStep int

const (
	stepNone    watchStep = iota
	stepExpire            // its --for has run out
	stepTrigger           // armed and the price is met
	stepRearm             // triggered alert, price rose past the margin or the cooldown passed
	stepResolve           // its GPU query has not been resolved to models yet
	stepFollow            // auto-rent in flight: look at its rent job
)

// decideWatch is the pure part of the tick: what to do with w given the
// best offer for its models and count (found false: none) at now. It
// allocates nothing.
func decideWatch(w *Watch, best bestOffer, found bool, now time.Time, margin float64, cooldown time.Duration) (watchStep, bestOffer) {
	if w.ExpiresAt != nil && !now.Before(*w.ExpiresAt) {
		return stepExpire, bestOffer{}
	}
	if len(w.Models) == 0 {
		return stepResolve, bestOffer{}
	}
	switch w.State {
	case WatchActive:
		if found && best.perGPU <= w.MaxUSDPerGPU*(1+1e-9) {
			return stepTrigger, best
		}
	case WatchTriggered:
		if w.AutoRent && w.JobID != "" {
			return stepFollow, best
		}
		risen := found && best.perGPU > w.MaxUSDPerGPU*(1+margin)
		cooled := cooldown > 0 && w.LastTriggeredAt != nil && now.Sub(*w.LastTriggeredAt) >= cooldown
		if risen || cooled {
			return stepRearm, best
		}
	}
	return stepNone, best
}
