package slackbot

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// cannedService answers every command from memory with one reply, and
// allocates nothing doing so.
type cannedService struct{ r commands.Reply }

func (s cannedService) Handle(context.Context, commands.Request) commands.Reply { return s.r }

func (s cannedService) AnswerFromMemory(context.Context, commands.Request) (commands.Reply, bool) {
	return s.r, true
}

// The Slack door's part of a help acknowledgement — the envelope judged
// (not a job), its Request built, the command layer's answer turned into
// the acknowledgement's payload (rendered once, then cached) — stays
// within a few allocations, whatever the size of the answer; the command's
// copy stays on the stack. With the command layer's part
// (commands.TestHelpFromMemoryAllocations) it bounds what a help costs
// clorebot beyond what slack-go costs any bot.
func TestHelpAckAllocations(t *testing.T) {
	help := commands.Reply{Status: commands.StatusOK, Title: "clorebot help", Text: commands.HelpFor(commands.PlatformSlack, ""),
		Visibility: commands.Ephemeral, Done: true}
	b := New(Options{BotToken: botToken, TeamID: "T1", Service: cannedService{help}})
	c := slack.SlashCommand{TeamID: "T1", APIAppID: "A1", ChannelID: "C1", UserID: "UALICE", UserName: "alice", Command: "/clore",
		Text: "help", TriggerID: "trig-1", ResponseURL: "http://127.0.0.1:1/response/cmd-trig-1"}
	ctx := context.Background()
	ack := func() any { // onSlash's path to a help's acknowledgement
		d, req := commandRequest(c) // parsed once, as onEnvelope does
		if b.foreign(ctx, slashOrigin(c)) != nil || chat.AckAtOnce(req) {
			t.Fatal("help refused or taken for a job")
		}
		p, ok := b.fromMemory(ctx, d, req)
		if !ok {
			t.Fatal("help not answered from memory")
		}
		return p
	}
	if raw, ok := ack().(json.RawMessage); !ok || !strings.Contains(string(raw), "clorebot help") {
		t.Fatalf("acknowledged with %v", raw)
	}
	// The Request: its reply target (the conversation, JSON, and the
	// response_url with its expiry) and idempotency key; the payload in an
	// interface.
	allocs := testing.AllocsPerRun(200, func() { ack() })
	if max := 12.0; allocs > max { // 10, 11 under -race
		t.Errorf("a help acknowledgement: %.0f allocations in the Slack door, want at most %.0f", allocs, max)
	} else {
		t.Logf("%.0f allocations", allocs)
	}
}
