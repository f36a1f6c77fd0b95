package commands

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
)

// benchOffers is the sandbox's 2,000-server marketplace, normalised.
func benchOffers(b *testing.B) []clore.Offer {
	b.Helper()
	sb, err := sandbox.New(sandbox.Options{StatePath: filepath.Join(b.TempDir(), "sandbox.db"), APIKey: "k", Servers: 2000})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	r := httptest.NewRequest("GET", "/v1/marketplace", nil)
	r.Header.Set("auth", "k")
	w := httptest.NewRecorder()
	sb.ServeHTTP(w, r)
	var resp struct {
		Servers []clore.Server `json:"servers"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp.Servers) != 2000 {
		b.Fatalf("marketplace: %d servers, %v", len(resp.Servers), err)
	}
	return clore.Offers(resp.Servers)
}

// benchWatches makes n armed watches over the models and counts on offer,
// with targets from 0.5× to 1.1× the cheapest price: about one in six is met.
func benchWatches(offers []clore.Offer, n int) []Watch {
	idx := newPriceIndex(offers, 0)
	keys := make([]priceKey, 0, len(idx))
	for k := range idx {
		keys = append(keys, k)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ws := make([]Watch, n)
	for i := range ws {
		k := keys[rng.IntN(len(keys))]
		ws[i] = Watch{ID: int64(i + 1), Models: []string{k.model}, GPUModel: k.model, Count: k.count,
			MaxUSDPerGPU: idx[k].perGPU * (0.5 + 0.6*rng.Float64()), State: WatchActive}
	}
	return ws
}

// BenchmarkWatchTickEvaluate is the evaluation part of one watch tick: the
// price index of a 2,000-server snapshot built, every group of watches
// priced in it, then 10,000 live watches decided (they are in memory: see
// BenchmarkEvaluateWatchesStored for the tick with its store).
func BenchmarkWatchTickEvaluate(b *testing.B) {
	offers := benchOffers(b)
	c := &watchCache{byID: map[int64]*cachedWatch{}, groups: map[string]*watchGroup{}}
	for _, w := range benchWatches(offers, 10_000) {
		c.put(w)
	}
	c.dirty = true
	if err := c.sync(context.Background(), noChanges{}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	triggered := 0
	b.ReportAllocs()
	for b.Loop() {
		idx := newPriceIndex(offers, 0.5)
		c.price(idx)
		triggered = 0
		for _, cw := range c.live {
			if step, _ := decideWatch(&cw.w, cw.g.best, cw.g.found, now, 0.05, time.Hour); step == stepTrigger {
				triggered++
			}
		}
	}
	b.ReportMetric(float64(triggered), "triggers/tick")
	b.ReportMetric(float64(len(c.groups)), "groups")
}

// noChanges is a WatchStore with nothing new since the cache was filled.
type noChanges struct{ WatchStore }

func (noChanges) WatchChanges(context.Context, int64) ([]Watch, int64, error) { return nil, 0, nil }
