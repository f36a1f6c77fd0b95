package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
)

// fixedMarket answers the marketplace from memory, at once.
type fixedMarket struct {
	commands.Clore
	servers []clore.Server
}

func (f fixedMarket) Marketplace(context.Context) ([]clore.Server, error) { return f.servers, nil }

// benchMarket is the sandbox's 2,000-server marketplace as the client
// gives it, and the size of its JSON.
func benchMarket(b *testing.B) (*harness, []clore.Server, int) {
	h := newHarness(b)
	servers, err := h.client.Marketplace(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(servers)
	if err != nil {
		b.Fatal(err)
	}
	return h, servers, len(raw)
}

// BenchmarkSnapshotSave is the marketplace half of a watch tick without
// the Clore call, on a 2,000-server answer (normalise it, publish the
// snapshot: what the tick pays), then what serve's snapshot task does
// apart from the tick: compress it and write it to SQLite.
func BenchmarkSnapshotSave(b *testing.B) {
	h, servers, size := benchMarket(b)
	ctx := context.Background()
	svc := commands.New(commands.Options{Store: h.store, Clore: fixedMarket{servers: servers}})
	b.Run("refresh", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			if err := svc.RefreshMarket(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("store", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			if err := svc.RefreshMarket(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := svc.SaveSnapshots(ctx); err != nil {
				b.Fatal(err)
			}
		}
		data, _, err := h.store.LoadSnapshot(ctx, "market")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(data)), "stored-bytes")
	})
}

// BenchmarkSnapshotLoad is what a restart does before it serves: read the
// stored 2,000-server marketplace, decompress, decode and normalise it.
func BenchmarkSnapshotLoad(b *testing.B) {
	h, servers, size := benchMarket(b)
	ctx := context.Background()
	saver := commands.New(commands.Options{Store: h.store, Clore: fixedMarket{servers: servers}})
	if err := errors.Join(saver.RefreshMarket(ctx), saver.SaveSnapshots(ctx)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		svc := commands.New(commands.Options{Store: h.store, Clore: fixedMarket{}})
		if err := svc.LoadSnapshots(ctx); err != nil {
			b.Fatal(err)
		}
		if m, err := svc.Market(ctx); err != nil || len(m) < 20 {
			b.Fatalf("%d models, %v", len(m), err)
		}
	}
}
