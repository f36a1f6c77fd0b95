package discordbot_test

import (
	"bytes"
	"context"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/discordbot"
	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
	"github.com/clorebot/clorebot/commands"
)

// seed records an hour of one-minute prices of model.
func (h *harness) seed(model string) {
	h.t.Helper()
	now := time.Now()
	for i := range 60 {
		v := 0.3 + 0.001*float64(i)
		if err := h.store.RecordPrices(context.Background(), now.Add(-time.Duration(60-i)*time.Minute),
			[]commands.PriceSample{{Model: model, MinUSD: v, AvgUSD: v, Samples: 1}}); err != nil {
			h.t.Fatal(err)
		}
	}
}

// checkChart checks that m carries one PNG attachment shown in its embed.
func checkChart(t *testing.T, m fd.Message, wantW, wantH int) {
	t.Helper()
	if len(m.Files) != 1 {
		t.Fatalf("message %s has %d files, want the chart", m.ID, len(m.Files))
	}
	f := m.Files[0]
	img, err := png.Decode(bytes.NewReader(f.Data))
	if err != nil {
		t.Fatalf("attachment %s: %v", f.Name, err)
	}
	if s := img.Bounds().Size(); s.X != wantW || s.Y != wantH || f.ContentType != "image/png" || f.Field != "files[0]" {
		t.Errorf("attachment %s %s %s %v, want a %dx%d PNG", f.Field, f.Name, f.ContentType, s, wantW, wantH)
	}
	if !strings.Contains(string(m.Body), `"url":"attachment://`+f.Name+`"`) {
		t.Errorf("the embed does not show the attachment: %s", m.Body)
	}
}

// /clore market with history answered within the ack budget goes as a
// JSON callback, then gets its chart with an edit of that response
// (multipart: payload_json and files[0]); answered after a deferral, the
// edit that fills the response carries it. The answer stays ephemeral.
func TestMarketHistoryChartAttached(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		budget   time.Duration
		callback int
	}{{"answered at once", 2500 * time.Millisecond, 4}, {"deferred", time.Nanosecond, 5}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{bot: func(o *discordbot.Options) { o.AckBudget = tc.budget }})
			model := h.cheapModel()
			h.seed(model)
			id, tok := h.next()
			cb := h.send(h.fake.Slash(id, tok, alice, "clore", fd.Sub("market", fd.Str("gpu", model), fd.Str("history", "24h"))))
			if cb.Type != tc.callback {
				t.Fatalf("callback %+v, want type %d", cb, tc.callback)
			}
			var orig fd.Message
			h.fake.WaitFor(t, 5*time.Second, "the chart attached", func() bool {
				var ok bool
				orig, ok = h.fake.Original(tok)
				return ok && len(orig.Files) > 0
			})
			checkChart(t, orig, 800, 400)
			if orig.Flags&64 == 0 || !strings.Contains(string(orig.Body), "cheapest offer") {
				t.Errorf("flags %d body %s: want the ephemeral answer", orig.Flags, orig.Body)
			}
		})
	}
}

// A bad window is refused with the usage line, and no chart.
func TestMarketHistoryBadWindow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	id, tok := h.next()
	h.send(h.fake.Slash(id, tok, alice, "clore", fd.Sub("market", fd.Str("gpu", "4090"), fd.Str("history", "5y"))))
	var orig fd.Message
	h.fake.WaitFor(t, 5*time.Second, "the answer", func() bool {
		var ok bool
		orig, ok = h.fake.Original(tok)
		return ok && strings.Contains(string(orig.Body), "history")
	})
	if !strings.Contains(string(orig.Body), "--history takes 24h, 7d or 30d") || len(orig.Files) != 0 {
		t.Errorf("bad window answered %s with %d files", orig.Body, len(orig.Files))
	}
}
