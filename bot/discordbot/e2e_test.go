package discordbot_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
	"github.com/clorebot/clorebot/commands"
)

const ephemeral = 64

func TestRegistrationBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	path := "/api/v9/applications/" + h.fake.AppID() + "/guilds/G1/commands"
	h.fake.WaitFor(t, 5*time.Second, "registration", func() bool { return len(h.fake.Calls(path)) > 0 })
	call := h.fake.Calls(path)[0]
	if call.Method != "PUT" || call.Auth != "Bot "+h.token {
		t.Fatalf("registration: %s with auth %q, want PUT with the bot token", call.Method, call.Auth)
	}
	if n := len(h.fake.Calls("/api/v9/applications/" + h.fake.AppID() + "/commands")); n != 0 {
		t.Errorf("registered globally too (%d calls), want the guild only", n)
	}
	var cmds []struct {
		Name    string `json:"name"`
		Options []struct {
			Name    string `json:"name"`
			Type    int    `json:"type"`
			Options []struct {
				Name         string  `json:"name"`
				Type         int     `json:"type"`
				Required     bool    `json:"required"`
				Autocomplete bool    `json:"autocomplete"`
				MinValue     float64 `json:"min_value"`
				MaxValue     float64 `json:"max_value"`
				Options      []struct {
					Name string `json:"name"`
				} `json:"options"`
			} `json:"options"`
		} `json:"options"`
	}
	if err := json.Unmarshal(call.Body, &cmds); err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 1 || cmds[0].Name != "clore" {
		t.Fatalf("registered %s, want one command clore", call.Body)
	}
	if !strings.Contains(string(call.Body), `"contexts":[0]`) {
		t.Errorf("registered %s; want /clore offered in guilds only (discord.allow_dms is false)", call.Body)
	}
	subs := map[string]int{}
	opts := map[string]string{}
	for _, o := range cmds[0].Options {
		subs[o.Name] = o.Type
		for _, p := range o.Options {
			desc := strconv.Itoa(p.Type)
			if p.Required {
				desc += " required"
			}
			if p.Autocomplete {
				desc += " autocomplete"
			}
			if p.MaxValue > 0 {
				desc += " " + strconv.FormatFloat(p.MinValue, 'g', -1, 64) + ".." + strconv.FormatFloat(p.MaxValue, 'g', -1, 64)
			}
			for _, q := range p.Options {
				desc += " " + q.Name
			}
			opts[o.Name+"."+p.Name] = desc
		}
	}
	wantSubs := map[string]int{"rent": 1, "cancel": 1, "status": 1, "watch": 2, "extend": 1, "market": 1, "spend": 1, "help": 1}
	if len(subs) != len(wantSubs) {
		t.Errorf("subcommands %v, want %v (confirm is a button only)", subs, wantSubs)
	}
	for name, typ := range wantSubs {
		if subs[name] != typ {
			t.Errorf("subcommand %s: type %d, want %d", name, subs[name], typ)
		}
	}
	want := map[string]string{
		"rent.gpu":        "3 required autocomplete",
		"rent.count":      "4 1..16",
		"rent.max_price":  "10 0.0001..1000",
		"rent.spot":       "5",
		"rent.image":      "3",
		"rent.hours":      "10 0.01..8760",
		"cancel.order_id": "4 required autocomplete",
		"status.order_id": "4 autocomplete",
		"watch.create":    "1 gpu max_price auto_rent count for",
		"watch.list":      "1",
		"watch.cancel":    "1 watch_id",
		"market.gpu":      "3 autocomplete",
		"spend.since":     "3",
		"spend.by":        "3",
		"market.history":  "3",
		"help.command":    "3",
		"extend.order_id": "4 required autocomplete",
		"extend.hours":    "10 0.01..8760",
	}
	if len(opts) != len(want) {
		t.Errorf("options %v, want exactly %v", opts, want)
	}
	for k, v := range want {
		if opts[k] != v {
			t.Errorf("option %s: %q, want %q", k, opts[k], v)
		}
	}
}

// The proof: rent answered within 3 s, the response edited to the
// running order with a Cancel button, another user's click denied, the
// renter's click and Confirm cancel the order at the sandbox.
func TestRentThenCancelByButton(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	model := h.cheapModel()
	id, tok := h.next()
	cb := h.send(h.fake.Slash(id, tok, alice, "clore", fd.Sub("rent", fd.Str("gpu", model))))
	if cb.Type != 5 {
		t.Fatalf("rent answered with type %d, want 5 (deferred)", cb.Type)
	}
	var orderID string
	h.fake.WaitFor(t, 20*time.Second, "the running order in the original response", func() bool {
		m, ok := h.fake.Original(tok)
		if !ok || !strings.Contains(text(m.Body), "is running") {
			return false
		}
		for _, c := range customIDs(m.Body) {
			if after, ok := strings.CutPrefix(c, "cancel:"); ok {
				orderID = after
			}
		}
		return orderID != ""
	})
	orig, _ := h.fake.Original(tok)
	if flags(orig.Body)&ephemeral != 0 || strings.Contains(text(orig.Body), "Password") {
		t.Errorf("public response is ephemeral or holds the password: %s", orig.Body)
	}
	h.fake.WaitFor(t, 5*time.Second, "connection details", func() bool { return len(h.fake.Followups(tok)) > 0 })
	private := h.fake.Followups(tok)
	if len(private) != 1 || private[0].Flags&ephemeral == 0 || !strings.Contains(text(private[0].Body), "Password") {
		t.Fatalf("connection details: %d follow-ups %v, want one ephemeral with the password", len(private), private)
	}

	// Bob clicks Cancel: refused, ephemerally, and no question is asked.
	id2, tok2 := h.next()
	cb = h.send(h.fake.Click(id2, tok2, bob, "cancel:"+orderID, orig.ID, false))
	if cb.Type != 4 || int(cb.Data["flags"].(float64))&ephemeral == 0 || !strings.Contains(mustJSON(cb.Data), "only they or an admin") &&
		!strings.Contains(mustJSON(cb.Data), "renter role") {
		t.Fatalf("bob's click: %+v, want an ephemeral refusal", cb)
	}
	// Bob forges the Confirm click: the command layer refuses it too.
	id3, tok3 := h.next()
	h.send(h.fake.Click(id3, tok3, bob, "cancel-yes:"+orderID, orig.ID, true))
	h.fake.WaitFor(t, 5*time.Second, "bob's forged confirm refused", func() bool {
		m, ok := h.fake.Original(tok3)
		return ok && strings.Contains(text(m.Body), "renter role")
	})

	// Alice clicks Cancel: the message stays as it is (a deferred update)
	// and she is asked to confirm, ephemerally.
	id4, tok4 := h.next()
	cb = h.send(h.fake.Click(id4, tok4, alice, "cancel:"+orderID, orig.ID, false))
	if cb.Type != 6 {
		t.Fatalf("alice's click: type %d, want 6 (a deferred update of the message)", cb.Type)
	}
	h.fake.WaitFor(t, 5*time.Second, "the question", func() bool { return len(h.fake.Followups(tok4)) > 0 })
	prompt := h.fake.Followups(tok4)[0]
	if got := customIDs(prompt.Body); !slices.Equal(got, []string{"cancel-yes:" + orderID + "|" + id4, "cancel-keep:" + orderID}) ||
		prompt.Flags&ephemeral == 0 || !strings.Contains(text(prompt.Body), "Cancel order #"+orderID+"?") {
		t.Fatalf("question %s buttons %v flags %d, want Confirm and Keep, ephemeral", prompt.Body, got, prompt.Flags)
	}
	// Alice confirms: the question closes, the order is cancelled at the
	// sandbox, and the message the Cancel button was on follows the
	// cancel: no live Cancel button is left on it.
	id5, tok5 := h.next()
	cb = h.send(h.fake.Click(id5, tok5, alice, "cancel-yes:"+orderID+"|"+id4, prompt.ID, true))
	if cb.Type != 7 || len(customIDs(mustRaw(cb.Data))) != 0 {
		t.Fatalf("confirm answered with type %d %v, want 7 (the question closed, no buttons)", cb.Type, cb.Data)
	}
	oid, _ := strconv.ParseInt(orderID, 10, 64)
	h.fake.WaitFor(t, 20*time.Second, "the cancellation on the order's message", func() bool {
		m, ok := h.fake.Original(tok)
		return ok && strings.Contains(text(m.Body), "cancelled") && len(customIDs(m.Body)) == 0
	})
	live, err := h.client.MyOrders(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range live {
		if o.ID == oid {
			t.Fatalf("order %d still active at the sandbox", oid)
		}
	}
}

func mustRaw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestBadInputIsEphemeralAndStartsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	model := h.cheapModel()
	tests := []struct {
		name string
		who  fd.Who
		sub  fd.Option
		want string
	}{
		{"flag in gpu", alice, fd.Sub("rent", fd.Str("gpu", "4090 --max-price 999")), "starts with a letter or digit"},
		{"unknown gpu", alice, fd.Sub("rent", fd.Str("gpu", "rtx 9999")), "no GPU model"},
		{"count out of range", alice, fd.Sub("rent", fd.Str("gpu", model), fd.Int("count", 40)), "count must be"},
		{"price above cap", alice, fd.Sub("rent", fd.Str("gpu", model), fd.Num("max_price", 900)), "above the team's cap"},
		{"viewer rents", bob, fd.Sub("rent", fd.Str("gpu", model)), "needs the renter role"},
		{"cancel of an unknown order", alice, fd.Sub("cancel", fd.Int("order_id", 424242)), "no order #424242"},
		{"extend of an unknown order", alice, fd.Sub("extend", fd.Int("order_id", 424243), fd.Num("hours", 2)), "no order #424243"},
		{"missing option", alice, fd.Sub("cancel"), `needs order\\_id`}, // order_id, Markdown-escaped
		{"bad duration", alice, fd.Group("watch", fd.Sub("create", fd.Str("gpu", model), fd.Num("max_price", 1), fd.Str("for", "1 day"))), "letters and digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, tok := h.next()
			cb := h.send(h.fake.Slash(id, tok, tt.who, "clore", tt.sub))
			var seen string
			h.fake.WaitFor(t, 5*time.Second, "an ephemeral answer naming the problem", func() bool {
				seen = ""
				if cb.Type == 4 {
					seen = mustJSON(cb.Data)
					return int(cb.Data["flags"].(float64))&ephemeral != 0
				}
				for _, m := range h.fake.Followups(tok) {
					if m.Flags&ephemeral != 0 {
						seen = text(m.Body)
						return true
					}
				}
				return false
			})
			if !strings.Contains(seen, tt.want) {
				t.Errorf("answer %s does not say %q", seen, tt.want)
			}
			if _, public := h.fake.Original(tok); public && cb.Type == 5 {
				t.Errorf("the deferred public response was left in the channel")
			}
		})
	}
	orders, err := h.svc.OrdersOf(context.Background(), discordReq(alice), 10)
	if err != nil || len(orders) != 0 {
		t.Errorf("bad input started orders: %v %v", orders, err)
	}
}

func TestRoleGrantsRenting(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	id, tok := h.next()
	h.send(h.fake.Slash(id, tok, carol, "clore", fd.Sub("rent", fd.Str("gpu", h.cheapModel()))))
	h.fake.WaitFor(t, 20*time.Second, "carol's order", func() bool {
		m, ok := h.fake.Original(tok)
		return ok && strings.Contains(text(m.Body), "is running")
	})
}

func TestAutocomplete(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	model := h.cheapModel()
	typed := strings.ToLower(strings.ReplaceAll(model, " ", ""))[:4]
	id, tok := h.next()
	cb := h.send(h.fake.Autocomplete(id, tok, alice, "clore", fd.Sub("rent", fd.Focus(fd.Str("gpu", typed)))))
	if cb.Type != 8 || !strings.Contains(mustJSON(cb.Data["choices"]), `"value":"`+model+`"`) {
		t.Fatalf("gpu autocomplete for %q: %+v, want %s among the choices", typed, cb, model)
	}
	id, tok = h.next()
	cb = h.send(h.fake.Autocomplete(id, tok, alice, "clore", fd.Sub("rent", fd.Focus(fd.Str("gpu", "rtx 40900")))))
	if choices, _ := cb.Data["choices"].([]any); len(choices) != 1 {
		t.Errorf("a near miss offers %v, want the nearest model", cb.Data["choices"])
	}
	// An order of alice's is offered to her, not to bob.
	id, tok = h.next()
	h.send(h.fake.Slash(id, tok, alice, "clore", fd.Sub("rent", fd.Str("gpu", model))))
	h.fake.WaitFor(t, 20*time.Second, "alice's order", func() bool {
		m, ok := h.fake.Original(tok)
		return ok && strings.Contains(text(m.Body), "is running")
	})
	id, tok = h.next()
	cb = h.send(h.fake.Autocomplete(id, tok, alice, "clore", fd.Sub("cancel", fd.Focus(fd.Str("order_id", "")))))
	if choices, _ := cb.Data["choices"].([]any); len(choices) != 1 {
		t.Errorf("alice's order choices: %v, want her one order", cb.Data["choices"])
	}
	id, tok = h.next()
	cb = h.send(h.fake.Autocomplete(id, tok, bob, "clore", fd.Sub("cancel", fd.Focus(fd.Str("order_id", "")))))
	if choices, _ := cb.Data["choices"].([]any); len(choices) != 0 {
		t.Errorf("bob is offered %v, want none of alice's orders", cb.Data["choices"])
	}
}

// One interaction id never starts two jobs, even when delivered twice.
func TestDuplicateInteractionStartsOneJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	id, tok := h.next()
	i := h.fake.Slash(id, tok, alice, "clore", fd.Sub("rent", fd.Str("gpu", h.cheapModel())))
	h.send(i)
	if err := h.fake.Interaction(i); err != nil {
		t.Fatal(err)
	}
	h.fake.WaitFor(t, 20*time.Second, "the order", func() bool {
		m, ok := h.fake.Original(tok)
		return ok && strings.Contains(text(m.Body), "is running")
	})
	if n := len(h.fake.Calls("/api/v9/interactions/" + id + "/")); n != 1 {
		t.Errorf("%d callbacks to one interaction, want 1", n)
	}
	orders, err := h.svc.OrdersOf(context.Background(), discordReq(alice), 10)
	if err != nil || len(orders) != 1 {
		t.Errorf("orders %d (%v), want 1", len(orders), err)
	}
}

// Progress moves to a channel message sent with the bot token before the
// interaction token runs out; connection details then go by DM. A 429 on
// the channel is waited out.
func TestProgressMovesToChannelBeforeTokenExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.fake.RateLimit("/api/v9/channels/C1/messages", 1, 0.05)
	id, tok := h.next()
	cb := h.send(h.fake.Slash(id, tok, alice, "clore", fd.Sub("rent", fd.Str("gpu", h.cheapModel()))))
	if cb.Type != 5 {
		t.Fatalf("type %d, want 5", cb.Type)
	}
	h.clock.Advance(14*time.Minute + time.Second)
	h.fake.ExpireToken(tok)
	h.fake.WaitFor(t, 20*time.Second, "the running order in the channel", func() bool {
		for _, m := range h.fake.Messages("C1") {
			if m.Token == "" && strings.Contains(text(m.Body), "is running") {
				return true
			}
		}
		return false
	})
	h.fake.WaitFor(t, 5*time.Second, "connection details by DM", func() bool {
		dms := h.fake.Messages("dm-" + alice.UserID)
		return len(dms) == 1 && strings.Contains(text(dms[0].Body), "Password")
	})
	for _, m := range h.fake.Messages("C1") {
		if strings.Contains(text(m.Body), "Password") {
			t.Errorf("password in the channel: %s", m.Body)
		}
	}
	var limited, sent int
	for _, c := range h.fake.Calls("/api/v9/channels/C1/messages") {
		if c.Auth != "Bot "+h.token {
			t.Errorf("channel message without the bot token")
		}
		sent++
	}
	limited = sent - (len(h.fake.Messages("C1")) - countTokenMessages(h.fake.Messages("C1")))
	if limited < 1 {
		t.Errorf("the 429 was not met (%d calls)", sent)
	}
}

func discordReq(w fd.Who) commands.Request {
	return commands.Request{Platform: "discord", User: "discord:" + w.UserID}
}

// Lifecycle events of an order rented from Discord go to its channel with
// the bot token, through a 429.
func TestLifecycleEventsToChannel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.fake.RateLimit("/api/v9/channels/C1/messages", 1, 0.05)
	id, tok := h.next()
	h.send(h.fake.Slash(id, tok, alice, "clore", fd.Sub("rent", fd.Str("gpu", h.cheapModel()))))
	var orderID string
	h.fake.WaitFor(t, 20*time.Second, "order.running in the channel", func() bool {
		for _, m := range h.fake.Messages("C1") {
			if m.Token == "" && strings.Contains(text(m.Body), "is running") {
				orderID = strings.TrimPrefix(strings.Fields(strings.SplitN(text(m.Body), "Order #", 2)[1])[0], "#")
				return true
			}
		}
		return false
	})
	// Cancelled by command: the channel hears of it too.
	id, tok = h.next()
	h.send(h.fake.Slash(id, tok, alice, "clore", fd.Sub("cancel", fd.Str("order_id", orderID))))
	h.fake.WaitFor(t, 20*time.Second, "order.cancelled in the channel", func() bool {
		for _, m := range h.fake.Messages("C1") {
			if m.Token == "" && strings.Contains(text(m.Body), "was cancelled") {
				return true
			}
		}
		return false
	})
	for _, c := range h.fake.Calls("/api/v9/channels/") {
		if c.Auth != "Bot "+h.token {
			t.Errorf("channel call without the bot token: %s %s", c.Method, c.Path)
		}
	}
	if calls, msgs := len(h.fake.Calls("/api/v9/channels/C1/messages")), len(h.fake.Messages("C1")); calls <= msgs-countTokenMessages(h.fake.Messages("C1")) {
		t.Errorf("the 429 was not met: %d calls for %d channel messages", calls, msgs)
	}
}

func countTokenMessages(ms []fd.Message) int {
	n := 0
	for _, m := range ms {
		if m.Token != "" {
			n++
		}
	}
	return n
}

// A viewer's /clore rent gets one ephemeral refusal at once: the role is
// checked before the interaction is deferred, so the channel never sees a
// public "thinking…" that is then deleted.
func TestViewerRentRefusedBeforeDeferring(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	model := h.cheapModel()
	id, tok := h.next()
	cb := h.send(h.fake.Slash(id, tok, bob, "clore", fd.Sub("rent", fd.Str("gpu", model))))
	if cb.Type != 4 || int(cb.Data["flags"].(float64))&ephemeral == 0 || !strings.Contains(mustJSON(cb.Data), "needs the renter role") {
		t.Fatalf("viewer's rent answered type %d %s; want 4, ephemeral, the refusal", cb.Type, mustJSON(cb.Data))
	}
	if strings.Contains(mustJSON(cb.Data), "Usage") {
		t.Errorf("a refusal shows the usage line: %s", mustJSON(cb.Data))
	}
	time.Sleep(100 * time.Millisecond)
	for _, c := range h.fake.Calls("/api/v9/webhooks/") {
		if c.Method == "DELETE" || strings.Contains(c.Path, tok) {
			t.Errorf("the refusal was followed by %s %s", c.Method, c.Path)
		}
	}
}

// What a user types is echoed back as text: a Markdown link in an image
// name is shown, not rendered as a link.
func TestTypedTextIsEscaped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	model := h.cheapModel()
	id, tok := h.next()
	cb := h.send(h.fake.Slash(id, tok, alice, "clore", fd.Sub("rent", fd.Str("gpu", model),
		fd.Str("image", "[free GPUs](https://evil.example) <@1002>"))))
	got := mustJSON(cb.Data)
	if cb.Type != 4 || !strings.Contains(got, `\\[free GPUs\\](https:\\/\\/evil.example)`) || strings.Contains(got, "[free GPUs](https://") ||
		strings.Contains(got, `"<@1002>`) || strings.Contains(got, ` \u003c@1002\u003e`) {
		t.Fatalf("image echoed as %s; want it escaped", got)
	}
}
