package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/golden"
)

// goldenReplies are the shapes every front door renders.
var goldenReplies = map[string]commands.Reply{
	"running": {
		Status: commands.StatusOK, Visibility: commands.Public, Done: true, JobID: "j1",
		Title: "Order #1942182 is running",
		Text:  "RTX 4090 ×1 at $0.350/h ($0.350 per GPU), until 2026-11-23 16:00 UTC. Connection details were sent to slack:U1 privately. `status 1942182` shows them again.",
		Buttons: []commands.Button{{ActionID: "cancel:1942182", Label: "Cancel #1942182",
			Confirm: "Cancel order #1942182? The server is released and billing stops.", Danger: true}},
		Private: &commands.PrivatePart{Title: "Connect to order #1942182", Fields: []commands.Field{
			{Name: "SSH", Value: "ssh -p 1972 root@n1.us.clorecloud.net"}, {Name: "Password", Value: "EXAMPLEPASSWORD"}}},
	},
	"usage-error": {
		Status: commands.StatusError, Visibility: commands.Ephemeral, Done: true,
		Text:  `--max-price must be a positive number of USD per GPU per hour, got "-1"`,
		Usage: "rent <gpu> [count] [--max-price USD_PER_HOUR] [--spot] [--image IMAGE] [--hours H] [--ssh-key KEY] [--currency C] [--min-reliability R]",
	},
	"queued": {Status: commands.StatusQueued, Visibility: commands.Public, JobID: "j2", Text: "Renting RTX 3090 ×1 from $0.172/GPU/h ($0.172/h in all)…"},
	"denied": {Status: commands.StatusDenied, Visibility: commands.Ephemeral, Done: true, Text: "rent needs the renter role; slack:U9 has viewer."},
}

func TestGoldenRendering(t *testing.T) {
	for name, r := range goldenReplies {
		t.Run(name, func(t *testing.T) {
			js, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden.Equal(t, filepath.Join("testdata", name+".txt"), []byte(r.PlainText(true)))
			golden.Equal(t, filepath.Join("testdata", name+".public.txt"), []byte(r.Public().PlainText(true)))
			golden.Equal(t, filepath.Join("testdata", name+".json"), append(js, '\n'))
		})
	}
}

// The market reply over a fixed sandbox snapshot.
func TestGoldenMarket(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	h := newHarness(t, fullMarket, func(o *sandbox.Options) { o.Now = func() time.Time { return at } })
	r := h.service().Handle(context.Background(), req("slack:VERA", "market 4090"))
	golden.Equal(t, filepath.Join("testdata", "market-4090.txt"), []byte(r.PlainText(true)))
}

// The watch list over a fixed sandbox snapshot: state, last price seen and
// last trigger of each watch, as an admin sees them. Its reply
// (watch-list.json) is also what the Slack, Discord and webhook golden
// tests render.
func TestGoldenWatchList(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	h := newHarness(t, func(o *sandbox.Options) { o.Now = func() time.Time { return at }; o.Servers = smallMarketServers })
	clock := &fakeClock{t: at}
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	ctx := context.Background()
	m := h.market(t)
	for _, text := range []string{
		fmt.Sprintf("watch 4090 %.4f", m.cheapest("RTX 4090").OnDemandUSDPerHour*1.01),
		"watch 3090 0.01 --for 24h",
		"watch A100 0.02 --count 2",
	} {
		if r := svc.Handle(ctx, req("slack:ALICE", text)); r.Status != commands.StatusOK {
			t.Fatalf("%s: %+v", text, r)
		}
	}
	tick(t, svc)
	clock.Advance(5 * time.Minute)
	tick(t, svc)
	r := svc.Handle(ctx, req("slack:ADA", "watch list"))
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Equal(t, filepath.Join("testdata", "watch-list.txt"), []byte(r.PlainText(true)))
	golden.Equal(t, filepath.Join("testdata", "watch-list.json"), append(js, '\n'))
}
