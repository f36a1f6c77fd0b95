package discordbot_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
)

// CurrentRoles asks Discord for the member (GET /guilds/{g}/members/{u},
// with the bot token) and names the roles as policy lists do; a member gone
// from the guild (404 Unknown Member) has no roles; what is not a member's
// answer is an error, so that an auto-rent refuses rather than guesses.
func TestCurrentRolesAsksDiscordForTheMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	h.fake.SetMember("G1", "1003", "777", "3")
	roles, err := h.bot.CurrentRoles(ctx, "discord:1003", "G1/C1")
	if err != nil || !slices.Equal(roles, []string{"discord-role:777", "discord-role:3"}) {
		t.Fatalf("roles %v, %v", roles, err)
	}
	calls := h.fake.Calls("/api/v9/guilds/")
	if len(calls) != 1 || calls[0].Method != "GET" || calls[0].Path != "/api/v9/guilds/G1/members/1003" || calls[0].Auth != "Bot "+h.token {
		t.Fatalf("calls %+v", calls)
	}
	h.fake.SetMember("G1", "1003", "3")
	if roles, err := h.bot.CurrentRoles(ctx, "discord:1003", "G1/C1"); err != nil || !slices.Equal(roles, []string{"discord-role:3"}) {
		t.Fatalf("roles after 777 was removed: %v, %v", roles, err)
	}
	h.fake.RemoveMember("G1", "1003")
	if roles, err := h.bot.CurrentRoles(ctx, "discord:1003", "G1/C1"); err != nil || roles != nil {
		t.Fatalf("roles of a member who left: %v, %v; want none, no error", roles, err)
	}
	for _, c := range []struct{ user, where string }{
		{"discord:1003", "G9/C1"},            // a guild the bot is not in: 404 Unknown Guild
		{"discord:1003", "dm/C1"},            // a DM has no roles to ask for
		{"discord:1003", ""},                 // no place
		{"slack:1003", "G1/C1"},              // not a Discord user
		{"discord:../../users/@me", "G1/C1"}, // not one path segment
	} {
		roles, err := h.bot.CurrentRoles(ctx, c.user, c.where)
		if err == nil {
			t.Errorf("%s in %q: roles %v, want an error", c.user, c.where, roles)
		} else if strings.Contains(err.Error(), h.token) {
			t.Errorf("the error shows the bot token: %v", err)
		}
	}
	if n := len(h.fake.Calls("/api/v9/guilds/")); n != 4 {
		t.Fatalf("%d member calls, want 4 (the bad ids were never sent)", n)
	}
}

// End to end through the fake Discord: an auto-rent watch set by carol, a
// renter only through the role 777, rents when it triggers while carol still
// has the role, and is refused, renting nothing, once the role was removed
// or carol left the guild: a renter role taken away on Discord takes the
// right to rent with it, even for a watch set before.
func TestAutoRentByARoleMemberFollowsTheRoleOnDiscord(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		after func(*fd.Server)
		rents bool
	}{
		{"role kept", func(f *fd.Server) { f.SetMember("G1", carol.UserID, "777") }, true},
		{"role removed", func(f *fd.Server) { f.SetMember("G1", carol.UserID, "3") }, false},
		{"left the guild", func(f *fd.Server) { f.SetMember("G1", "other"); f.RemoveMember("G1", carol.UserID) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{})
			ctx := context.Background()
			model := h.cheapModel()
			sums, err := h.svc.Market(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var price float64
			for _, m := range sums {
				if m.Model == model {
					price = m.OnDemand
				}
			}
			id, tok := h.next()
			cb := h.send(h.fake.Slash(id, tok, carol, "clore", fd.Group("watch", fd.Sub("create",
				fd.Str("gpu", model), fd.Num("max_price", price*3), fd.Bool("auto_rent", true)))))
			if !strings.Contains(mustJSON(cb), "rent automatically") {
				t.Fatalf("watch by carol: %+v", cb)
			}
			c.after(h.fake)
			if err := h.svc.EvaluateWatches(ctx); err != nil {
				t.Fatal(err)
			}
			if n := len(h.fake.Calls("/api/v9/guilds/G1/members/" + carol.UserID)); n != 1 {
				t.Fatalf("%d member lookups, want 1", n)
			}
			if c.rents {
				h.fake.WaitFor(t, 20*time.Second, "the auto-rent's order", func() bool {
					orders, err := h.client.MyOrders(ctx, true)
					return err == nil && len(orders) == 1
				})
				return
			}
			h.fake.WaitFor(t, 10*time.Second, "the refusal in the channel", func() bool {
				for _, m := range h.fake.Messages("C1") {
					if strings.Contains(string(m.Body), "Not rented") && strings.Contains(string(m.Body), "renter role") {
						return true
					}
				}
				return false
			})
			if orders, err := h.client.MyOrders(ctx, true); err != nil || len(orders) != 0 {
				t.Fatalf("orders %+v, %v; want none", orders, err)
			}
		})
	}
}
