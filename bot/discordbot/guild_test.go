package discordbot_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/discordbot"
	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
)

// dm turns a guild interaction into one from a direct message: no guild,
// the user instead of the member.
func dm(i fd.Interaction) fd.Interaction {
	i.GuildID, i.ChannelID = "", "DM1"
	i.User = &i.Member.User
	i.Member = nil
	return i
}

func fromGuild(i fd.Interaction, guild string) fd.Interaction {
	i.GuildID = guild
	return i
}

// A rent from a guild not in guild_ids, or from a DM, is refused
// ephemerally at once (never deferred publicly, never a job), over the
// gateway and over HTTP interactions; autocomplete there offers nothing.
func TestForeignGuildAndDMRefused(t *testing.T) {
	t.Parallel()
	key := newSigner(t)
	h := newHarness(t, harnessOpts{bot: func(o *discordbot.Options) { o.PublicKey = hex.EncodeToString(key.pub) }})
	model := h.cheapModel()
	handler, err := h.bot.Handler()
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, cb callback, where string) {
		t.Helper()
		raw, _ := json.Marshal(cb.Data)
		if cb.Type != 4 || flags(raw) != 64 || !strings.Contains(string(raw), "serves only in the Discord server G1") ||
			!strings.Contains(string(raw), where) {
			t.Fatalf("answer type %d %s; want an ephemeral refusal naming G1", cb.Type, raw)
		}
	}
	cases := []struct {
		name, where string
		edit        func(fd.Interaction) fd.Interaction
	}{
		{"other guild", "this server", func(i fd.Interaction) fd.Interaction { return fromGuild(i, "G2") }},
		{"dm", "direct messages", dm},
	}
	for _, tc := range cases {
		t.Run("gateway "+tc.name, func(t *testing.T) {
			id, tok := h.next()
			check(t, h.send(tc.edit(h.fake.Slash(id, tok, alice, "clore", fd.Sub("rent", fd.Str("gpu", model))))), tc.where)
			id, tok = h.next()
			check(t, h.send(tc.edit(h.fake.Click(id, tok, alice, "cancel:42", "m1", false))), tc.where)
			id, tok = h.next()
			cb := h.send(tc.edit(h.fake.Autocomplete(id, tok, alice, "clore", fd.Sub("rent", fd.Focus(fd.Str("gpu", "40"))))))
			if ch, _ := cb.Data["choices"].([]any); cb.Type != 8 || len(ch) != 0 {
				t.Fatalf("autocomplete from outside: %+v; want no choices", cb)
			}
		})
		t.Run("http "+tc.name, func(t *testing.T) {
			id, tok := h.next()
			body, _ := json.Marshal(tc.edit(h.fake.Slash(id, tok, alice, "clore", fd.Sub("rent", fd.Str("gpu", model)))))
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, key.request(body, time.Now()))
			var cb callback
			if err := json.Unmarshal(w.Body.Bytes(), &cb); err != nil || w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			check(t, cb, tc.where)
		})
	}
	orders, err := h.svc.VisibleOrders(context.Background(), "discord:"+alice.UserID, 0)
	if err != nil || len(orders) != 0 {
		t.Fatalf("orders after foreign rents: %v %v", orders, err)
	}
	// From G1 it is served, in Discord's words: /clore's options, no
	// --flags Discord does not have, no confirm (a button only).
	id, tok := h.next()
	cb := h.send(h.fake.Slash(id, tok, alice, "clore", fd.Sub("help")))
	if got := mustJSON(cb.Data); cb.Type != 4 || strings.Contains(got, "does not take commands") ||
		!strings.Contains(got, "`/clore rent gpu [count] [max_price]") || strings.Contains(got, "--spot") ||
		strings.Contains(got, "/clore confirm") {
		t.Fatalf("help from G1: %s", got)
	}
}

// With allow_dms, a DM is served.
func TestDMServedWhenAllowed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{bot: func(o *discordbot.Options) { o.AllowDMs = true }})
	id, tok := h.next()
	cb := h.send(dm(h.fake.Slash(id, tok, alice, "clore", fd.Sub("help"))))
	if s := mustJSON(cb.Data); cb.Type != 4 || strings.Contains(s, "does not take commands") || !strings.Contains(s, "rent") {
		t.Fatalf("help in a DM with allow_dms: %+v", cb)
	}
}
