package chat

import (
	"testing"

	"github.com/clorebot/clorebot/commands"
)

// A typed command is parsed once, when its Request is built, and the
// acknowledgement's questions (BecomesJob, AckAtOnce) read that parse: a
// request whose text says one thing and whose parse another is judged by
// its parse.
func TestAckReadsTheParseThatTravelsWithTheRequest(t *testing.T) {
	o := Origin{Platform: commands.PlatformSlack, UserID: "U1", Channel: "C1"}
	for _, tc := range []struct {
		text           string
		job, ackAtOnce bool
	}{
		{"rent 4090", true, true},
		{"/clore cancel 12", true, true},
		{"extend 12 2", true, true},
		{"confirm abc", true, true},
		{"rent 4090 --bogus", true, false}, // a job command, malformed: answered in the ack
		{"cancel", true, false},
		{"rent 4090 --help", false, false}, // help, whatever its first word
		{"status", false, false},
		{"watch 4090 0.4", false, false},
		{"", false, false}, // help
		{"nope", false, false},
	} {
		req := CommandRequest(o, tc.text, "k")
		if req.Command == nil && req.Invalid == nil {
			t.Errorf("%q: CommandRequest did not parse", tc.text)
		}
		if got := BecomesJob(req); got != tc.job {
			t.Errorf("%q: BecomesJob %v, want %v", tc.text, got, tc.job)
		}
		if got := AckAtOnce(req); got != tc.ackAtOnce {
			t.Errorf("%q: AckAtOnce %v, want %v", tc.text, got, tc.ackAtOnce)
		}
	}

	rent, err := commands.Parse("rent 4090")
	if err != nil {
		t.Fatal(err)
	}
	poisoned := commands.Request{Text: "help", Command: &rent}
	if !BecomesJob(poisoned) || !AckAtOnce(poisoned) {
		t.Error("the text was parsed again: the request carries a rent")
	}
	poisoned = commands.Request{Text: "rent 4090", Invalid: &commands.UsageError{Command: "status", Problem: "p"}}
	if BecomesJob(poisoned) || AckAtOnce(poisoned) {
		t.Error("the text was parsed again: the request carries a status usage error")
	}
	click := ClickRequest(o, "cancel:12", "12", "m1")
	if BecomesJob(click) || AckAtOnce(click) {
		t.Error("a click counted as a typed job command")
	}
}
