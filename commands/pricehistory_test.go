package commands_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// seedHistory records a day of one-minute ticks for model ending at end,
// falling from $0.50 to $0.30.
func seedHistory(t *testing.T, h *harness, model string, end time.Time) {
	t.Helper()
	ctx := context.Background()
	for i := range 24 * 60 {
		at := end.Add(-time.Duration(24*60-i) * time.Minute)
		v := 0.50 - 0.20*float64(i)/float64(24*60)
		if err := h.store.RecordPrices(ctx, at, []commands.PriceSample{{Model: model, MinUSD: v, AvgUSD: v, Samples: 1}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTickRecordsPriceHistory(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	ctx := context.Background()
	if err := svc.TickMarket(ctx); err != nil {
		t.Fatal(err)
	}
	sums, err := svc.Market(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for _, m := range sums {
		got, err := h.store.PriceHistory(ctx, m.Model, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if m.OnDemand == 0 {
			continue
		}
		if len(got) != 1 || got[0].MinUSD != round6(m.OnDemand) {
			t.Fatalf("%s: history %+v, want one tick at %v", m.Model, got, m.OnDemand)
		}
		recorded++
	}
	if recorded == 0 {
		t.Fatal("nothing recorded")
	}
	// The same snapshot again (an early refresh's tick, a second process)
	// adds nothing.
	if err := svc.RecordPriceHistory(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := h.store.PriceHistory(ctx, sums[0].Model, time.Now().Add(-time.Hour))
	if len(got) > 1 {
		t.Fatalf("the same tick recorded twice: %+v", got)
	}
}

func round6(v float64) float64 { return float64(int64(v*1e6+0.5)) / 1e6 }

func TestMarketHistoryChartAndData(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	seedHistory(t, h, "RTX 4090", time.Now())
	r := svc.Handle(context.Background(), req("slack:VERA", "market 4090 --history 24h"))
	if r.Status != commands.StatusOK {
		t.Fatalf("reply %+v", r)
	}
	if r.Image == nil {
		t.Fatalf("no chart: %+v", r)
	}
	img, err := png.Decode(bytes.NewReader(r.Image.PNG))
	if err != nil {
		t.Fatal(err)
	}
	if s := img.Bounds().Size(); s.X != 800 || s.Y != 400 {
		t.Errorf("chart %v, want 800x400", s)
	}
	if !strings.HasSuffix(r.Image.Name, ".png") || r.Image.Alt == "" {
		t.Errorf("image name %q alt %q", r.Image.Name, r.Image.Alt)
	}
	if len(r.History) != 1 || r.History[0].Model != "RTX 4090" || len(r.History[0].Points) < 1400 {
		t.Fatalf("history %+v", r.History)
	}
	hist := r.History[0]
	if *hist.MinUSD > 0.301 || *hist.MaxUSD < 0.499 {
		t.Errorf("low %v high %v, want about 0.30 and 0.50", *hist.MinUSD, *hist.MaxUSD)
	}
	if len(r.Fields) != 1 || !strings.Contains(r.Fields[0].Value, "low $0.300") || !strings.Contains(r.Fields[0].Value, "now $") {
		t.Errorf("summary %+v", r.Fields)
	}
	// Machine answers carry the points, never the picture.
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"history":[{"model":"RTX 4090","window":"24h"`)) || bytes.Contains(raw, []byte("PNG")) {
		t.Errorf("JSON %s", raw[:min(len(raw), 300)])
	}
	// A week's chart has hourly points.
	r = svc.Handle(context.Background(), req("slack:VERA", "market rtx4090 --history 7d"))
	if r.Image == nil || len(r.History) != 1 || r.History[0].Step != 3600 || len(r.History[0].Points) > 26 {
		t.Fatalf("7d: %+v", r.History)
	}
}

func TestMarketHistoryRefusesBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	for _, tc := range []struct{ text, want string }{
		{"market 4090 --history 5y", "--history takes 24h, 7d or 30d"},
		{"market --history 7d", "needs a GPU model"},
		{"market 4090 --history", "history"},
		{"market nosuchgpu --history 7d", "no GPU model"},
	} {
		r := svc.Handle(context.Background(), req("slack:VERA", tc.text))
		if r.Status != commands.StatusError || !strings.Contains(r.Text, tc.want) || !strings.Contains(r.Usage, "--history 24h|7d|30d") {
			t.Errorf("%q: %s %q usage %q, want an error naming %q with the usage line", tc.text, r.Status, r.Text, r.Usage, tc.want)
		}
		if r.Image != nil {
			t.Errorf("%q: a chart with an error", tc.text)
		}
	}
}

func TestMarketHistoryWithNothingRecorded(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	r := svc.Handle(context.Background(), req("slack:VERA", "market 4090 --history 30d"))
	if r.Status != commands.StatusOK || r.Image != nil || !strings.Contains(r.Text, "No prices recorded") {
		t.Fatalf("%+v", r)
	}
	if len(r.History) != 1 || r.History[0].Points == nil {
		t.Fatalf("history %+v: want empty points, not null", r.History)
	}
}

func TestAlertChart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	now := time.Now()
	seedHistory(t, h, "RTX 4090", now)
	ev := commands.Event{Type: "watch.triggered", CreatedAt: now,
		Data: json.RawMessage(`{"watch_id":7,"gpu":"RTX 4090","models":["RTX 4090"]}`)}
	img, err := svc.AlertChart(context.Background(), ev)
	if err != nil || img == nil {
		t.Fatalf("AlertChart: %v %v", img, err)
	}
	dec, err := png.Decode(bytes.NewReader(img.PNG))
	if err != nil {
		t.Fatal(err)
	}
	if s := dec.Bounds().Size(); s.X != 400 || s.Y != 160 {
		t.Errorf("alert chart %v, want 400x160", s)
	}
	if img.Name != "watch-7-24h.png" {
		t.Errorf("name %q", img.Name)
	}
	for _, other := range []commands.Event{
		{Type: "order.running", Data: json.RawMessage(`{}`)},
		{Type: "watch.triggered", Data: json.RawMessage(`{"watch_id":8,"gpu":"H100","models":["H100"]}`)},
	} {
		if img, err := svc.AlertChart(context.Background(), other); img != nil || err != nil {
			t.Errorf("%s %s: %v %v, want no chart", other.Type, other.Data, img, err)
		}
	}
}
