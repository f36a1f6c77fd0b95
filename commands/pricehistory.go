package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/clorebot/clorebot/internal/chart"
)

// PriceSample is the cheapest on-demand offer of one GPU model over one
// stretch of time, USD per GPU per hour: one watch tick (Step 0), or an
// hour or a day of ticks rolled up.
type PriceSample struct {
	Model   string
	At      time.Time     // the start of the stretch (the tick's time for Step 0)
	Step    time.Duration // 0, time.Hour or 24 h
	MinUSD  float64       // the lowest cheapest price seen in it
	AvgUSD  float64       // the mean of the cheapest prices seen in it
	Samples int           // how many ticks it covers
}

// PriceHistoryStore keeps the cheapest offer per GPU model over time. A
// Store that implements it (storage.Store does) gets price history: the
// tick records into it, `market --history` and watch alerts read it.
type PriceHistoryStore interface {
	// RecordPrices records the cheapest price per model that one tick saw
	// at `at` (samples with Step 0), in one transaction. A tick recorded
	// twice (two processes on one snapshot) is kept once.
	RecordPrices(ctx context.Context, at time.Time, prices []PriceSample) error
	// PriceHistory returns the samples of model at or after since, of every
	// resolution, oldest first.
	PriceHistory(ctx context.Context, model string, since time.Time) ([]PriceSample, error)
	// CompactPriceHistory rolls the samples older than the retention of
	// their resolution at now into the next one (ticks after 24 h into
	// hours, hours after 30 days into days) and deletes days older than
	// 400 days; it returns how many rows it removed.
	CompactPriceHistory(ctx context.Context, now time.Time) (int, error)
}

// History windows of `market --history`.
var historyWindows = map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// HistoryWindows are the values `market --history` takes, shortest first.
var HistoryWindows = []string{"24h", "7d", "30d"}

// priceHistory is the store's PriceHistoryStore, nil when it has none.
func (s *Service) priceHistory() PriceHistoryStore {
	ph, _ := s.store.(PriceHistoryStore)
	return ph
}

// RecordPriceHistory records the cheapest on-demand offer per GPU model of
// the current marketplace snapshot (the one the tick just fetched: no
// Clore call). A snapshot kept from before a restart is not recorded (its
// tick was, by the process that fetched it).
func (s *Service) RecordPriceHistory(ctx context.Context) error {
	ph := s.priceHistory()
	m := s.market.Load()
	if ph == nil || m == nil || m.stored {
		return nil
	}
	var prices []PriceSample
	for _, sum := range Summarize(m.offers, s.policy.MinReliability) {
		if sum.OnDemand > 0 {
			prices = append(prices, PriceSample{Model: sum.Model, At: m.at, MinUSD: sum.OnDemand, AvgUSD: sum.OnDemand, Samples: 1})
		}
	}
	if len(prices) == 0 {
		return nil
	}
	if err := ph.RecordPrices(ctx, m.at, prices); err != nil {
		return fmt.Errorf("commands: record price history: %w", err)
	}
	return nil
}

// CompactPriceHistory downsamples and bounds the stored price history
// (PriceHistoryStore.CompactPriceHistory at the clock's now); serve runs it
// with its hourly housekeeping.
func (s *Service) CompactPriceHistory(ctx context.Context) error {
	ph := s.priceHistory()
	if ph == nil {
		return nil
	}
	n, err := ph.CompactPriceHistory(ctx, s.clock.Now())
	if err != nil {
		return fmt.Errorf("commands: compact price history: %w", err)
	}
	if n > 0 {
		s.log.LogAttrs(ctx, slog.LevelDebug, "price history compacted", slog.Int("rows", n))
	}
	return nil
}

// PricePoint is one point of a price history answer: the cheapest offer of
// a model at a time, USD per GPU per hour (JSON for webhooks and exec).
type PricePoint struct {
	At     time.Time `json:"at"`
	MinUSD float64   `json:"min_usd_per_gpu_hour"`
	AvgUSD float64   `json:"avg_usd_per_gpu_hour"`
}

// PriceHistory is a model's price history over a window (the data behind
// a `market --history` chart).
type PriceHistory struct {
	Model  string       `json:"model"`
	Window string       `json:"window"`
	Step   int64        `json:"step_seconds"` // 0: one point per watch tick
	Points []PricePoint `json:"points"`
	MinUSD *float64     `json:"min_usd_per_gpu_hour"`
	MaxUSD *float64     `json:"max_usd_per_gpu_hour"`
	NowUSD *float64     `json:"now_usd_per_gpu_hour"`
}

// historyStep is the spacing of a window's points: every tick over a day,
// hours over a week or a month (at most 720 points).
func historyStep(window time.Duration) time.Duration {
	if window <= 24*time.Hour {
		return 0
	}
	return time.Hour
}

// loadHistory reads model's history over window ending at now, at the
// window's step.
func (s *Service) loadHistory(ctx context.Context, model, window string, now time.Time) (PriceHistory, error) {
	h := PriceHistory{Model: model, Window: window, Points: []PricePoint{}}
	ph := s.priceHistory()
	d := historyWindows[window]
	if ph == nil || d == 0 {
		return h, nil
	}
	step := historyStep(d)
	h.Step = int64(step / time.Second)
	samples, err := ph.PriceHistory(ctx, model, now.Add(-d))
	if err != nil {
		return h, err
	}
	h.Points = bucketSamples(samples, step)
	for _, p := range h.Points {
		if h.MinUSD == nil || p.MinUSD < *h.MinUSD {
			h.MinUSD = new(p.MinUSD)
		}
		if h.MaxUSD == nil || p.MinUSD > *h.MaxUSD {
			h.MaxUSD = new(p.MinUSD)
		}
	}
	return h, nil
}

// bucketSamples merges samples (oldest first, of any resolution) into
// points step apart (step 0: as they are): the min of the mins and the mean
// weighted by samples. A coarser sample falls in the bucket of its start.
func bucketSamples(samples []PriceSample, step time.Duration) []PricePoint {
	type acc struct {
		at       time.Time
		min, sum float64
		n        int
	}
	var out []acc
	for _, sm := range samples {
		at := sm.At.UTC()
		if step > 0 {
			at = at.Truncate(step)
		}
		n := max(sm.Samples, 1)
		if k := len(out) - 1; k >= 0 && out[k].at.Equal(at) {
			out[k].min = math.Min(out[k].min, sm.MinUSD)
			out[k].sum += sm.AvgUSD * float64(n)
			out[k].n += n
			continue
		}
		out = append(out, acc{at: at, min: sm.MinUSD, sum: sm.AvgUSD * float64(n), n: n})
	}
	slices.SortStableFunc(out, func(a, b acc) int { return a.at.Compare(b.at) })
	points := make([]PricePoint, 0, len(out))
	for _, a := range out {
		if k := len(points) - 1; k >= 0 && points[k].At.Equal(a.at) {
			continue // an hour rolled up while its ticks were read: keep the first
		}
		points = append(points, PricePoint{At: a.at, MinUSD: RoundUSD(a.min), AvgUSD: RoundUSD(a.sum / float64(a.n))})
	}
	return points
}

// historyLine is h as a chart line of the minimum prices.
func historyLine(title string, hs ...PriceHistory) chart.Line {
	l := chart.Line{Title: title, Unit: "USD/GPU/h"}
	for _, h := range hs {
		sr := chart.Series{Name: h.Model}
		for _, p := range h.Points {
			sr.Points = append(sr.Points, chart.Point{At: p.At, Value: p.MinUSD})
		}
		l.Series = append(l.Series, sr)
	}
	return l
}

// AlertChart is the small chart of the last 24 h of the cheapest offer of
// the models of a watch.triggered event, for the chat sinks to show next to
// its Rent now button; nil (no error) for other events, for a store
// without price history, or when nothing is recorded yet.
func (s *Service) AlertChart(ctx context.Context, ev Event) (*Image, error) {
	if ev.Type != "watch.triggered" || s.priceHistory() == nil {
		return nil, nil
	}
	var d WatchTriggeredEvent
	if err := json.Unmarshal(ev.Data, &d); err != nil || len(d.Models) == 0 {
		return nil, nil
	}
	now := ev.CreatedAt
	if now.IsZero() {
		now = s.clock.Now()
	}
	var hs []PriceHistory
	for _, m := range d.Models[:min(len(d.Models), 4)] {
		h, err := s.loadHistory(ctx, m, "24h", now)
		if err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	png, err := chart.RenderLine(historyLine(d.GPU+": cheapest offer, last 24 h", hs...), chart.Small)
	if errors.Is(err, chart.ErrNoData) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &Image{Name: fmt.Sprintf("watch-%d-24h.png", d.WatchID), PNG: png,
		Alt: fmt.Sprintf("Cheapest %s offer per GPU per hour over the last 24 hours", d.GPU)}, nil
}

// historyTitles name the windows in chart titles.
var historyTitles = map[string]string{"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days"}

// marketHistory answers `market <gpu> --history W`: a line chart of the
// cheapest offer of each model the query matches (at most four), a short
// summary (lowest, highest, now) and the points for machine answers. It
// reads the stored history and the snapshot only: no Clore call.
func (s *Service) marketHistory(ctx context.Context, a *MarketArgs, models []string, snap *marketSnapshot) Reply {
	if s.priceHistory() == nil {
		return errorReply(&UsageError{Command: "market", Problem: "price history is not kept by this deployment"})
	}
	now := s.clock.Now()
	nowPrice := map[string]float64{}
	for _, m := range Summarize(snap.offers, s.policy.MinReliability) {
		nowPrice[m.Model] = m.OnDemand
	}
	if len(models) > 4 {
		models = models[:4]
	}
	r := Reply{Status: StatusOK, Visibility: Ephemeral, Done: true,
		Title: fmt.Sprintf("%s: cheapest offer, %s", a.GPU, historyTitles[a.History])}
	var hs []PriceHistory
	for _, m := range models {
		h, err := s.loadHistory(ctx, m, a.History, now)
		if err != nil {
			return s.fail(ctx, "market", err)
		}
		if p := nowPrice[m]; p > 0 {
			h.NowUSD = new(RoundUSD(p))
		}
		hs = append(hs, h)
		r.Fields = append(r.Fields, Field{Name: m, Value: h.summary(), Short: true})
	}
	r.History = hs
	r.Text = "USD per GPU per hour, on demand, Clore's renter fee included; times in UTC."
	png, err := chart.RenderLine(historyLine(r.Title, hs...), chart.Large)
	switch {
	case errors.Is(err, chart.ErrNoData):
		r.Text = fmt.Sprintf("No prices recorded for %s in the %s yet: the watch tick records them as it runs.",
			a.GPU, historyTitles[a.History])
	case err != nil:
		return s.fail(ctx, "market", err)
	default:
		r.Image = &Image{Name: fmt.Sprintf("%s-%s.png", fileWord(a.GPU), a.History), PNG: png,
			Alt: fmt.Sprintf("Line chart of the cheapest %s offer per GPU per hour over the %s", a.GPU, historyTitles[a.History])}
	}
	return r
}

// summary is h's lowest, highest and current price in words.
func (h PriceHistory) summary() string {
	if h.MinUSD == nil {
		if h.NowUSD != nil {
			return "no history yet · now " + usd(*h.NowUSD)
		}
		return "no history yet"
	}
	parts := []string{"low " + usd(*h.MinUSD), "high " + usd(*h.MaxUSD)}
	if h.NowUSD != nil {
		parts = append(parts, "now "+usd(*h.NowUSD))
	} else {
		parts = append(parts, "none offered now")
	}
	return strings.Join(parts, " · ")
}

// fileWord is s as a file name part: lower case letters and digits, "-"
// between words.
func fileWord(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}
