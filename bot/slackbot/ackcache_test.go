package slackbot

import (
	"encoding/json"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

// A cached acknowledgement is byte for byte the one rendered afresh, for
// every reply, cached or not; replies that differ in anything rendered
// never share one.
func TestAckCacheRendersAsFresh(t *testing.T) {
	replies := []commands.Reply{
		{Status: commands.StatusOK, Title: "clorebot help", Text: commands.HelpText(""), Visibility: commands.Ephemeral, Done: true},
		{Status: commands.StatusOK, Title: "clorebot help", Text: commands.HelpText("rent"), Visibility: commands.Ephemeral, Done: true},
		{Status: commands.StatusError, Text: "unknown command frobnicate", Usage: "/clore help", Visibility: commands.Ephemeral, Done: true},
		{Status: commands.StatusDenied, Text: "unknown command frobnicate", Usage: "/clore help", Visibility: commands.Ephemeral, Done: true},
		{Status: commands.StatusError, Text: "unknown command frobnicate", Usage: "/clore help", Visibility: commands.Public, Done: true},
		{Status: commands.StatusOK, Text: "market", Fields: []commands.Field{{Name: "RTX 4090", Value: "$0.30"}}, Visibility: commands.Ephemeral, Done: true},
	}
	var c ackCache
	seen := map[string]int{}
	for round := range 2 {
		for i, r := range replies {
			got, err := c.payload(r)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(payloadOf(r))
			if string(got) != string(want) {
				t.Fatalf("reply %d, round %d: cached %s\nfresh %s", i, round, got, want)
			}
			if j, ok := seen[string(got)]; ok && j != i {
				t.Errorf("replies %d and %d share an acknowledgement", j, i)
			}
			seen[string(got)] = i
		}
	}
	if n := len(c.m); n != 5 {
		t.Errorf("%d cached, want the 5 plain replies (not the one with fields)", n)
	}
}
