package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
	"github.com/clorebot/clorebot/clore"
)

// serve wires the Discord front door as the command layer's role source
// (no interaction brings an owner's roles when a watch triggers): two members of the renter role 777 set auto-rent watches
// over the gateway; when the watches trigger, the one who still has the
// role rents, the one whose role was removed on Discord is refused and
// rents nothing.
func TestServeAutoRentAsksDiscordForTheOwnersCurrentRoles(t *testing.T) {
	t.Parallel()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token := "test." + hex.EncodeToString(b)
	fake := fd.New(t, fd.Options{Token: token})
	configPath := writeDiscordConfig(t, t.TempDir(), fake, token, "", `renters = ["discord-role:777"]`)
	app := runServe(t, configPath, slog.New(slog.DiscardHandler), nil)
	fake.WaitFor(t, 10*time.Second, "READY", func() bool { return fake.Connected(1) })
	ctx := context.Background()
	var model string
	fake.WaitFor(t, 10*time.Second, "the marketplace", func() bool {
		if _, err := app.svc.Market(ctx); err != nil {
			return false // the first tick has not loaded it yet
		}
		servers, err := app.clore.Marketplace(ctx)
		if err != nil {
			return false
		}
		// A one-GPU offer a watch at $4.90 meets, within the guardrails.
		for _, o := range clore.Offers(servers) {
			if !o.Rented && o.GPUCount == 1 && o.Reliability >= 0.95 && o.OnDemandUSDPerHour > 0 && o.OnDemandUSDPerHour < 2 {
				model = o.Model
			}
		}
		return model != ""
	})
	// The watches trigger at the next tick (1 s): the roles are set first.
	fake.SetMember("G1", "2002", "777")
	fake.SetMember("G1", "2003", "3") // 777 removed since the watch was set
	for _, who := range []string{"2002", "2003"} {
		i := fake.Slash("w"+who, "wtok"+who, fd.Who{UserID: who, Roles: []string{"777"}}, "clore",
			fd.Group("watch", fd.Sub("create", fd.Str("gpu", model), fd.Num("max_price", 4.9), fd.Bool("auto_rent", true))))
		if err := fake.Interaction(i); err != nil {
			t.Fatal(err)
		}
		if !fake.Await(5*time.Second, func() bool {
			m, ok := fake.Original("wtok" + who)
			return ok && strings.Contains(string(m.Body), "rent automatically")
		}) {
			m, _ := fake.Original("wtok" + who)
			t.Fatalf("the watch of %s (%s): %s", who, model, m.Body)
		}
	}
	defer func() {
		if t.Failed() {
			for _, m := range fake.Messages("C1") {
				t.Logf("C1: %s", m.Body)
			}
			for _, c := range fake.Calls("/api/v9/") {
				t.Logf("call %s %s", c.Method, c.Path)
			}
			ws, _ := app.store.ListWatches(ctx, "")
			t.Logf("watches %+v", ws)
		}
	}()
	fake.WaitFor(t, 20*time.Second, "the refusal in the channel", func() bool {
		for _, m := range fake.Messages("C1") {
			if strings.Contains(string(m.Body), "Not rented") && strings.Contains(string(m.Body), "discord:2003 has viewer") {
				return true
			}
		}
		return false
	})
	fake.WaitFor(t, 30*time.Second, "the rent of 2002", func() bool {
		orders, err := app.clore.MyOrders(ctx, true)
		return err == nil && len(orders) == 1
	})
	for _, who := range []string{"2002", "2003"} {
		if n := len(fake.Calls("/api/v9/guilds/G1/members/" + who)); n != 1 {
			t.Errorf("%d lookups of %s, want 1", n, who)
		}
	}
	jobs, err := app.store.ResumableJobs(ctx, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.RequestedBy == "discord:2003" {
			t.Errorf("a rent job for the member whose role was removed: %+v", j)
		}
	}
}
