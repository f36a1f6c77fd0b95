package slackbot

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/golden"
)

// injection is what a host could report as its GPU name, Clore as an error
// or a user type as an image: Slack and Discord markup of every kind.
const injection = "<!channel> <!here|here> <@U0ADMIN> <#C1> <!subteam^S1> <!date^0^{date}|x> <https://evil.example|click> " +
	"&amp; &lt; [free](https://evil.example) *bold* `code` @channel"

func TestBlockKitGolden(t *testing.T) {
	order := int64(1942182)
	tests := []struct {
		name  string
		reply commands.Reply
	}{
		{"help", commands.Reply{Status: commands.StatusOK, Title: "clorebot help", Text: commands.HelpFor(commands.PlatformSlack, ""), Visibility: commands.Ephemeral, Done: true}},
		{"help_watch", commands.Reply{Status: commands.StatusOK, Title: "clorebot help", Text: commands.HelpFor(commands.PlatformSlack, "watch"), Visibility: commands.Ephemeral, Done: true}},
		{"usage_error", commands.Reply{Status: commands.StatusError, Text: "rent needs a GPU model", Usage: commands.Usage("rent"), Visibility: commands.Ephemeral, Done: true}},
		{"denied", commands.Reply{Status: commands.StatusDenied, Text: "order #1942182 was rented by slack:UALICE; only they or an admin may cancel it", Usage: commands.Usage("cancel"), Visibility: commands.Ephemeral, Done: true}},
		{"queued", commands.Reply{Status: commands.StatusQueued, Text: "Renting RTX 4090 ×1 from $0.40/GPU/h ($0.40/h in all)…", JobID: "exqtbhnpajb4wjjp", Visibility: commands.Public, RequestedBy: "slack:UALICE"}},
		{"provisioning", commands.Reply{Status: commands.StatusRunning, Text: "Provisioning order #1942182: RTX 4090 ×1 at $0.40/h…", JobID: "exqtbhnpajb4wjjp", Visibility: commands.Public}},
		{"running", commands.Reply{Status: commands.StatusOK, Title: "Order #1942182 is running", RequestedBy: "slack:UALICE",
			Text: "RTX 4090 ×1 at $0.40/h, until " + commands.Time(time.Date(2026, 11, 28, 20, 0, 0, 0, time.UTC), commands.TimeFull) +
				". Connection details were sent to " + commands.Mention("slack:UALICE") + " privately. " +
				commands.CommandHint("status 1942182") + " shows them again.",
			Buttons: []commands.Button{chat.CancelButton(order)}, JobID: "exqtbhnpajb4wjjp", Visibility: commands.Public, Done: true,
			Private: &commands.PrivatePart{Title: "Connect to order #1942182", Fields: []commands.Field{{Name: "SSH", Value: "ssh -p 2022 root@n1.example"}, {Name: "Password", Value: "not-in-public"}}}}},
		{"failed", commands.Reply{Status: commands.StatusFailed, Text: "Gave up after 3 offers (last: server-already-rented).", JobID: "exqtbhnpajb4wjjp", Visibility: commands.Public, Done: true}},
		{"confirm", commands.Reply{Status: commands.StatusConfirm, Title: "Confirm the rent", Text: "H100 ×8 on server 88028 costs $24.00 per hour ($3.00 per GPU), above the team's confirmation threshold.",
			Buttons: []commands.Button{{ActionID: "confirm:exqtbhnpajb4wjjp", Label: "Rent now", Value: "exqtbhnpajb4wjjp", Confirm: "Rent H100 ×8 for $24.00 per hour?", Danger: true}},
			JobID:   "exqtbhnpajb4wjjp", Visibility: commands.Ephemeral}},
		{"status", commands.Reply{Status: commands.StatusOK, Title: "Your orders", Visibility: commands.Ephemeral, Done: true,
			Fields: []commands.Field{{Name: "#1942182 RTX 4090 ×1", Value: "running, $0.40/h, 3h left", Short: true}}}},
		{"escaped", commands.Reply{Status: commands.StatusError, Text: "unknown GPU <!channel> & <https://evil.example|click>", Visibility: commands.Ephemeral, Done: true}},
		// A host's GPU name, a Clore error, a user's image: shown as written,
		// never a mention, a link or a date, in text, fields and titles alike.
		{"injection", commands.Reply{Status: commands.StatusError, Title: injection, Text: "Clore refused: " + injection,
			Fields: []commands.Field{{Name: injection, Value: injection}}, Visibility: commands.Public, Done: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := map[string]any{"text": FallbackText(tt.reply), "blocks": Blocks(tt.reply.Public())}
			if tt.reply.Private != nil {
				out["private_blocks"] = PrivateBlocks(*tt.reply.Private)
			}
			golden.JSON(t, "testdata/"+tt.name+".json", out)
			public, _ := json.Marshal(out["blocks"])
			if tt.reply.Private != nil && strings.Contains(string(public), "not-in-public") {
				t.Error("the private part leaks into the public blocks")
			}
			if strings.Contains(string(public), "<!channel>") {
				t.Error("a mention survives escaping")
			}
		})
	}
	for _, typ := range []string{"order.running", "order.failed", "order.cancelled", "order.expiring", "order.expired", "watch.triggered"} {
		t.Run("event_"+typ, func(t *testing.T) {
			data := `{"order":{"id":1942182,"gpu":"RTX 4090","count":1,"usd_per_hour":0.4,"ends_at":"2026-11-28T20:00:00Z"},"by":"slack:UALICE","error":"not online in time","message":"RTX 4090 at $0.35/GPU/h on server 88028 (watch 7)."}`
			r, ok := chat.EventReply(commands.Event{Type: typ, Data: json.RawMessage(data)})
			if !ok {
				t.Fatalf("%s not worded", typ)
			}
			golden.JSON(t, "testdata/event_"+strings.ReplaceAll(typ, ".", "_")+".json", map[string]any{"text": FallbackText(r), "blocks": Blocks(r)})
		})
	}
}
