package storage

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

var phStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func tickPrices(models []string, v float64) []commands.PriceSample {
	out := make([]commands.PriceSample, len(models))
	for i, m := range models {
		out[i] = commands.PriceSample{Model: m, MinUSD: v + float64(i), AvgUSD: v + float64(i), Samples: 1}
	}
	return out
}

func TestRecordPricesOncePerTick(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for range 2 { // the same tick twice: kept once
		if err := s.RecordPrices(ctx, phStart, tickPrices([]string{"RTX 4090", "A100"}, 0.35)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordPrices(ctx, phStart.Add(time.Minute), tickPrices([]string{"RTX 4090"}, 0.30)); err != nil {
		t.Fatal(err)
	}
	got, err := s.PriceHistory(ctx, "RTX 4090", phStart)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].MinUSD != 0.35 || got[1].MinUSD != 0.30 || !got[1].At.Equal(phStart.Add(time.Minute)) {
		t.Fatalf("history %+v", got)
	}
	if got, _ := s.PriceHistory(ctx, "A100", phStart); len(got) != 1 || got[0].MinUSD != 1.35 {
		t.Fatalf("A100 history %+v", got)
	}
	if err := s.RecordPrices(ctx, phStart, []commands.PriceSample{{Model: "x", MinUSD: math.NaN()}}); err == nil {
		t.Fatal("NaN price accepted")
	}
}

func TestCompactPriceHistoryRollsUp(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	// Two hours of ticks: 0.40 then 0.20 in the first hour, 0.30 in the second.
	for i := range 120 {
		v := 0.30
		if i < 60 {
			v = 0.40
			if i%2 == 1 {
				v = 0.20
			}
		}
		if err := s.RecordPrices(ctx, phStart.Add(time.Duration(i)*time.Minute), tickPrices([]string{"RTX 4090"}, v)); err != nil {
			t.Fatal(err)
		}
	}
	// Half the first hour past 24 h, then all of it: two passes give what one would.
	if _, err := s.CompactPriceHistory(ctx, phStart.Add(24*time.Hour+30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	n, err := s.CompactPriceHistory(ctx, phStart.Add(26*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 90 {
		t.Errorf("second pass removed %d rows, want 90", n)
	}
	got, err := s.PriceHistory(ctx, "RTX 4090", phStart)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("history %+v, want two hours", got)
	}
	h0, h1 := got[0], got[1]
	if h0.Step != time.Hour || h0.Samples != 60 || h0.MinUSD != 0.20 || math.Abs(h0.AvgUSD-0.30) > 1e-6 || !h0.At.Equal(phStart) {
		t.Errorf("first hour %+v", h0)
	}
	if h1.Samples != 60 || h1.MinUSD != 0.30 || !h1.At.Equal(phStart.Add(time.Hour)) {
		t.Errorf("second hour %+v", h1)
	}
	// Past 30 days the hours become one day; past 400 days it goes.
	if _, err := s.CompactPriceHistory(ctx, phStart.Add(31*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.PriceHistory(ctx, "RTX 4090", phStart)
	if len(got) != 1 || got[0].Step != 24*time.Hour || got[0].Samples != 120 || got[0].MinUSD != 0.20 || math.Abs(got[0].AvgUSD-0.30) > 1e-6 {
		t.Fatalf("after 31 days %+v", got)
	}
	// A query from inside the day still sees the day that reaches into it.
	if got, _ := s.PriceHistory(ctx, "RTX 4090", phStart.Add(12*time.Hour)); len(got) != 1 {
		t.Fatalf("a day bucket reaching into the window is left out: %+v", got)
	}
	if _, err := s.CompactPriceHistory(ctx, phStart.Add(401*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.PriceHistory(ctx, "RTX 4090", phStart); len(got) != 0 {
		t.Fatalf("after 401 days %+v", got)
	}
}

// TestPriceHistoryBytesPerModelMonth records a month of ticks at the
// default 60 s interval for 10 models, compacted hourly as serve does, and
// reports the table's size on disk per model (dbstat). The figure is
// bounded: after a month a model holds a day of ticks and 29 days of hours.
func TestPriceHistoryBytesPerModelMonth(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("inserts 432,000 samples in 43,200 transactions: run without -short and -race for the figure")
	}
	s, _ := newStore(t)
	ctx := context.Background()
	models := []string{"RTX 4090", "RTX 3090", "A100", "H100", "RTX 3080", "RTX 3070", "A6000", "RTX 4080", "L40S", "RTX 5090"}
	const month = 30 * 24 * 60
	for i := range month {
		at := phStart.Add(time.Duration(i) * time.Minute)
		if err := s.RecordPrices(ctx, at, tickPrices(models, 0.3+0.1*math.Sin(float64(i)/97))); err != nil {
			t.Fatal(err)
		}
		if i%60 == 59 {
			if _, err := s.CompactPriceHistory(ctx, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	var rows int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM price_history`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	var bytes int64
	if err := s.read.QueryRowContext(ctx, `SELECT sum(pgsize) FROM dbstat WHERE name IN ('price_history', 'price_models', 'sqlite_autoindex_price_models_1')`).Scan(&bytes); err != nil {
		t.Skipf("dbstat: %v", err)
	}
	per := bytes / int64(len(models))
	t.Logf("price history after 30 days at 60 s: %d rows, %d bytes on disk for %d models: %d bytes (%.1f KiB) per model per month",
		rows, bytes, len(models), per, float64(per)/1024)
	if per > 128<<10 {
		t.Errorf("%d bytes per model per month, want under 128 KiB", per)
	}
	if wantRows := len(models) * (24*60 + 29*24 + 1); rows > wantRows+len(models)*2 {
		t.Errorf("%d rows, want about %d (bounded by compaction)", rows, wantRows)
	}
}
