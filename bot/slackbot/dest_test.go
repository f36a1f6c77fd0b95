package slackbot

import (
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/clorebot/clorebot/commands"
)

// A job's reply target holds the response_url as its expiring part: once
// Slack no longer takes it (30 minutes) the store drops it, and the target
// still names the conversation.
func TestDestResponseURLExpires(t *testing.T) {
	now := time.Now()
	d := dest{Channel: "C1", User: "U1", TS: "1.2"}.withResponseURL("https://hooks.slack.example/commands/T1/secret", now)
	s := d.encode()
	if strings.Count(s, "secret") != 1 || strings.Contains(s, `"r":`) {
		t.Fatalf("encoded target %q", s)
	}
	got, err := decodeDest(s)
	if err != nil || got.ResponseURL != d.ResponseURL || got.Channel != "C1" || got.TS != "1.2" {
		t.Fatalf("decode(encode) = %+v, %v", got, err)
	}
	wiped := commands.FreshTarget(s, now.Add(31*time.Minute))
	if strings.Contains(wiped, "secret") {
		t.Fatalf("an expired response_url is kept: %q", wiped)
	}
	got, err = decodeDest(wiped)
	if err != nil || got.ResponseURL != "" || got.Channel != "C1" || got.User != "U1" {
		t.Fatalf("wiped target = %+v, %v", got, err)
	}
	// A target stored before the expiring part existed still reads.
	old, err := decodeDest(`{"c":"C1","u":"U1","r":"https://hooks.slack.example/x"}`)
	if err != nil || old.ResponseURL == "" {
		t.Fatalf("old target = %+v, %v", old, err)
	}
}

// A slash command without a trigger_id is keyed by its own fields: a
// retry of it carries the same key, another command another.
func TestCommandKeyWithoutTrigger(t *testing.T) {
	c := slashFor("UALICE", "extend 5 2", "")
	if k1, k2 := commandKey(c), commandKey(c); k1 != k2 || k1 == "" {
		t.Fatalf("keys %q %q", k1, k2)
	}
	other := c
	other.ResponseURL += "x"
	if commandKey(other) == commandKey(c) {
		t.Fatal("two commands share a key")
	}
	if commandKey(slashFor("UALICE", "help", "T9")) != "T9" {
		t.Fatal("a trigger_id is not the key")
	}
}

func slashFor(user, text, trigger string) slack.SlashCommand {
	return slack.SlashCommand{TeamID: "T1", UserID: user, ChannelID: "C1", Command: "/clore", Text: text, TriggerID: trigger,
		ResponseURL: "https://hooks.slack.example/commands/T1/1/abc"}
}
