package slackbot

import (
	"reflect"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/bot/slackbot/slacktest"
	"github.com/clorebot/clorebot/commands"
)

// A slash command is parsed once, when it arrives: the Request the command
// layer gets carries that parse (Command, or Invalid for text that does
// not parse), the same one the door's acknowledgement judged, so that the
// command layer has no text left to parse. Job commands (acknowledged
// empty at once), help, usage errors and quick commands all go this way.
func TestSlashCommandsReachTheCommandLayerParsed(t *testing.T) {
	svc := &stubService{}
	_, fake := startBot(t, svc, nil)
	if !fake.WaitConnected(1, wait) {
		t.Fatal("never connected")
	}
	texts := map[string]string{"p-help": "help", "p-rent": "rent 3090 2", "p-bad": "rent 3090 --bogus",
		"p-status": "status", "p-empty": "", "p-typo": "rnet 3090"}
	for env, text := range texts {
		if err := fake.Send(slacktest.Envelope(env, "slash_commands", fake.Slash("U1", "C1", text, "t-"+env), 0)); err != nil {
			t.Fatal(err)
		}
	}
	for env := range texts {
		if _, ok := fake.WaitAck(env, wait); !ok {
			t.Fatalf("%s: no ack", env)
		}
	}
	if !fake.Wait(wait, func() bool { return len(svc.requests()) == len(texts) }) {
		t.Fatalf("%d requests reached the command layer, want %d", len(svc.requests()), len(texts))
	}
	for _, req := range svc.requests() {
		want, wantErr := commands.Parse(req.Text)
		switch {
		case req.Command == nil && req.Invalid == nil:
			t.Errorf("%q reached the command layer unparsed", req.Text)
		case wantErr == nil && (req.Command == nil || !reflect.DeepEqual(*req.Command, want)):
			t.Errorf("%q carries %+v, want %+v", req.Text, req.Command, want)
		case wantErr != nil && (req.Invalid == nil || req.Invalid.Error() != wantErr.Error()):
			t.Errorf("%q carries %v, want the error %q", req.Text, req.Invalid, wantErr)
		}
		if strings.TrimSpace(req.Text) == "" {
			t.Error("a bare /clore reached the command layer without its text (help)")
		}
	}
}
