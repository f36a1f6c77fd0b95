package commands_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// BenchmarkEvaluateWatchesStored is EvaluateWatches with 10,000 stored
// watches (none met, so no watch is written): the tick's cost with its
// store, in the steady state — the watches are in memory after the first
// tick, which reads them all (reported as cold-ms); each tick then asks
// the store what changed and records its time and the prices that moved.
// It makes no Clore call.
func BenchmarkEvaluateWatchesStored(b *testing.B) {
	h := newHarness(b)
	svc := commands.New(commands.Options{Store: h.store, Clore: h.client, Policy: h.policy})
	ctx := context.Background()
	if err := svc.RefreshMarket(ctx); err != nil {
		b.Fatal(err)
	}
	models := []string{"RTX 4090", "RTX 3090", "A100 80GB", "H100 80GB", "RTX 3060"}
	for i := range 10_000 {
		w := commands.Watch{Owner: fmt.Sprintf("slack:U%d", i%300), Platform: commands.PlatformSlack,
			GPUModel: models[i%len(models)], Models: []string{models[i%len(models)]}, MaxUSDPerGPU: 0.001,
			Count: 1 + i%4, State: commands.WatchActive}
		if _, err := h.store.CreateWatch(ctx, &w, 0); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	if err := svc.EvaluateWatches(ctx); err != nil {
		b.Fatal(err)
	}
	cold := time.Since(start)
	b.ReportAllocs()
	for b.Loop() {
		if err := svc.EvaluateWatches(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cold.Microseconds())/1000, "cold-ms")
}
