package discordbot

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/golden"
)

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	until := time.Date(2026, 1, 1, 16, 0, 0, 0, time.UTC)
	running := commands.Reply{Status: commands.StatusOK, Visibility: commands.Public, Done: true, JobID: "job7",
		Title: "Order #1942182 is running", RequestedBy: "discord:1001",
		Text: "RTX 4090 ×1 at $0.410/h ($0.410 per GPU), until " + commands.Time(until, commands.TimeFull) +
			". Connection details were sent to " + commands.Mention("discord:1001") + " privately. " +
			commands.CommandHint("status 1942182") + " shows them again.",
		Buttons: []commands.Button{{ActionID: "cancel:1942182", Label: "Cancel #1942182", Danger: true,
			Confirm: "Cancel order #1942182? The server is released and billing stops."},
			{ActionID: "extend:1942182", Label: "Extend 1 h"}},
		Private: &commands.PrivatePart{Title: "Connect to order #1942182",
			Fields: []commands.Field{{Name: "SSH", Value: "ssh -p 1234 root@n1.clore.ai"}, {Name: "Password", Value: "SECRETPASSWORD"}}},
	}
	tests := []struct {
		name string
		v    any
	}{
		{"queued", renderReply(commands.Reply{Status: commands.StatusQueued, Visibility: commands.Public, JobID: "job7",
			Text: "Renting RTX 4090 ×1 from $0.410/GPU/h ($0.410/h in all)…"}).responseData()},
		{"running_edit", renderReply(running.Public()).webhookEdit()},
		{"private", renderPrivate(running.Private).webhookParams()},
		{"usage_error", renderReply(commands.Reply{Status: commands.StatusError, Visibility: commands.Ephemeral, Done: true,
			Text:  `no GPU model "rtx 9999" on the marketplace (did you mean RTX 3090?)`,
			Usage: "rent <gpu> [count] [--max-price USD_PER_HOUR]"}).responseData()},
		{"denied", renderReply(commands.Reply{Status: commands.StatusDenied, Visibility: commands.Ephemeral, Done: true,
			Text: "order #5 was rented by discord:1; only they or an admin may cancel it"}).responseData()},
		{"confirm", renderReply(commands.Reply{Status: commands.StatusConfirm, Visibility: commands.Ephemeral, JobID: "job9",
			Title: "Confirm the rent", Text: "H100 ×8 on server 77 costs $24.00 per hour ($3.00 per GPU).",
			Buttons: []commands.Button{{ActionID: "confirm:job9", Label: "Rent now", Danger: true}}}).responseData()},
		{"market", renderReply(commands.Reply{Status: commands.StatusOK, Visibility: commands.Ephemeral, Done: true,
			Title: "Clore marketplace", Text: "USD per GPU per hour.",
			Fields: []commands.Field{{Name: "RTX 4090", Value: "12 of 40 free · from $0.350", Short: true},
				{Name: "H100", Value: "2 of 5 free · from $2.100", Short: true}}}).responseData()},
		{"help", renderReply(commands.Reply{Status: commands.StatusOK, Title: "clorebot help", Visibility: commands.Ephemeral, Done: true,
			Text: commands.HelpFor(commands.PlatformDiscord, "")}).responseData()},
		{"help_rent", renderReply(commands.Reply{Status: commands.StatusOK, Title: "clorebot help", Visibility: commands.Ephemeral, Done: true,
			Text: commands.HelpFor(commands.PlatformDiscord, "rent")}).responseData()},
		{"cancel_prompt", renderCancelPrompt("1942182", "1300000000000000001").responseData()},
		// What hosts, Clore and users write is shown as written: no link, no
		// mention, no timestamp, no formatting, no ping.
		{"injection", renderReply(commands.Reply{Status: commands.StatusError, Visibility: commands.Public, Done: true,
			Title: injection, Text: "Clore refused: " + injection,
			Fields: []commands.Field{{Name: injection, Value: injection}}}).messageSend()},
		{"channel_message", renderReply(running.Public()).messageSend()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { golden.JSON(t, "testdata/"+tt.name+".golden", tt.v) })
	}
}

// injection is what a host could report as its GPU name, Clore as an error
// or a user type as an image: Discord and Slack markup of every kind.
const injection = "[free GPUs](https://evil.example/x) **bold** __u__ ~~s~~ ||spoiler|| `code` <@1002> <@&77> <#5> " +
	"@everyone <t:0:R> <!channel> <https://evil.example|click> &amp; \\[x](y)\n# heading\n-# small\n- item\n> quote\n1. first https://evil.example"

func TestRenderKeepsPrivatePartOut(t *testing.T) {
	t.Parallel()
	r := commands.Reply{Status: commands.StatusOK, Visibility: commands.Public, Text: "ok",
		Private: &commands.PrivatePart{Fields: []commands.Field{{Name: "Password", Value: "hunter2hunter2"}}}}
	b, _ := json.Marshal(renderReply(r).messageSend())
	if strings.Contains(string(b), "hunter2") {
		t.Fatalf("public message holds the private part: %s", b)
	}
}

func TestRenderLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 5000)
	r := commands.Reply{Status: commands.StatusOK, Title: long, Text: long}
	for range 30 {
		r.Fields = append(r.Fields, commands.Field{Name: long, Value: long})
		r.Buttons = append(r.Buttons, commands.Button{ActionID: "cancel:1", Label: long})
	}
	r.Buttons = append(r.Buttons, commands.Button{ActionID: "x:" + long, Label: "too long an id"})
	m := renderReply(r)
	e := m.Embeds[0]
	if len([]rune(e.Title)) > maxTitle || len([]rune(e.Description)) > maxDescription || len(e.Fields) > maxFields {
		t.Errorf("embed over Discord's limits: title %d, description %d, fields %d", len([]rune(e.Title)), len([]rune(e.Description)), len(e.Fields))
	}
	for _, f := range e.Fields {
		if len([]rune(f.Name)) > maxFieldName || len([]rune(f.Value)) > maxFieldValue {
			t.Fatal("field over Discord's limits")
		}
	}
	if len(m.Components) > 5 {
		t.Errorf("%d action rows, Discord allows 5", len(m.Components))
	}
}

func TestCustomIDRoundTrip(t *testing.T) {
	t.Parallel()
	for _, b := range []commands.Button{{ActionID: "cancel:42"}, {ActionID: "rent:88028", Value: "jobabc"}, {ActionID: "confirm:job1"},
		{ActionID: "confirm:job2", Value: "job2"}} {
		rows := buttons([]commands.Button{b})
		id := customIDs(t, rows)
		got := parseCustomID(id)
		if b.Value == "job2" && id != "confirm:job2" {
			t.Errorf("custom id %q, want confirm:job2 (DESIGN.md §2)", id)
		}
		if got.ID != b.ActionID || (got.Value != b.Value && !strings.HasSuffix(b.ActionID, ":"+b.Value)) {
			t.Errorf("custom id %q reads back as %+v, want %+v", id, got, b)
		}
	}
}

func customIDs(t *testing.T, v any) string {
	t.Helper()
	raw, _ := json.Marshal(v)
	var rows []struct {
		Components []struct {
			CustomID string `json:"custom_id"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil || len(rows) != 1 || len(rows[0].Components) != 1 {
		t.Fatalf("buttons %s", raw)
	}
	return rows[0].Components[0].CustomID
}

func TestTargetRoundTrip(t *testing.T) {
	t.Parallel()
	tg := target{Channel: "C1", Token: "a:b:c", Created: time.UnixMilli(1700000000123)}
	got, ok := decodeTarget(encodeTarget(tg))
	if !ok || got.Channel != tg.Channel || got.Token != tg.Token || !got.Created.Equal(tg.Created) {
		t.Fatalf("target %+v reads back as %+v", tg, got)
	}
	for _, bad := range []string{"", "discord:v1:", "discord:v1:C1:x:tok", "slack:whatever"} {
		if _, ok := decodeTarget(bad); ok {
			t.Errorf("decodeTarget(%q) accepted", bad)
		}
	}
}
