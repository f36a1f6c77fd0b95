package commands_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

// ParseRequest parses once and says so in the request: Command for text
// that parses, Invalid (the usage error Parse returns) for text that does
// not; a click and a request parsed already are left as they are.
func TestParseRequestCarriesTheParse(t *testing.T) {
	for _, text := range []string{"rent 4090 2 --spot", "watch list", "help rent", "rent 4090 --bogus", "nope", `rent "open`} {
		t.Run(text, func(t *testing.T) {
			want, wantErr := commands.Parse(text)
			r := commands.ParseRequest(commands.Request{Text: text})
			switch {
			case wantErr == nil && (r.Command == nil || r.Invalid != nil || !reflect.DeepEqual(*r.Command, want)):
				t.Errorf("Command %+v, Invalid %v; want %+v", r.Command, r.Invalid, want)
			case wantErr != nil && (r.Command != nil || r.Invalid == nil || r.Invalid.Error() != wantErr.Error()):
				t.Errorf("Command %+v, Invalid %v; want the error %q", r.Command, r.Invalid, wantErr)
			}
			got, err := r.Parsed()
			if (err == nil) != (wantErr == nil) || err == nil && !reflect.DeepEqual(got, want) {
				t.Errorf("Parsed() = %+v, %v; want %+v, %v", got, err, want, wantErr)
			}
			if again := commands.ParseRequest(r); again.Command != r.Command || again.Invalid != r.Invalid {
				t.Error("a parsed request was parsed again")
			}
		})
	}
	click := commands.ParseRequest(commands.Request{Text: "rent 4090", Action: &commands.Action{ID: "cancel:1"}})
	if click.Command != nil || click.Invalid != nil {
		t.Errorf("a click was parsed: %+v", click)
	}
}

// The command layer acts on the parse a request carries and never parses
// its text again: a request whose text says one thing and whose parse says
// another is handled and permitted by its parse (AnswersFromMemory:
// TestAnswersFromMemory).
func TestServiceUsesTheParseThatTravelsWithTheRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	ctx := context.Background()
	help, err := commands.Parse("help")
	if err != nil {
		t.Fatal(err)
	}

	// Text that would rent; a parse that asks for help. A viewer may ask
	// for help, not rent.
	r := req("slack:VERA", "rent 4090")
	r.Command = &help
	if got := svc.Handle(ctx, r); got.Title != "clorebot help" || got.JobID != "" {
		t.Errorf("Handle parsed the text again: %+v", got)
	}
	if !svc.Permits(r) {
		t.Error("Permits parsed the text again: a viewer may ask for help")
	}

	// Text that parses; a parse that failed: the failure is the answer.
	bad := req("slack:ALICE", "help")
	bad.Invalid = &commands.UsageError{Command: "rent", Problem: "the problem the front door found", Usage: commands.Usage("rent")}
	got := svc.Handle(ctx, bad)
	if got.Status != commands.StatusError || got.Text != "the problem the front door found" || got.Usage != commands.Usage("rent") {
		t.Errorf("Handle parsed the text again: %+v", got)
	}

	// And the other way round: text that asks for help, a parse that rents.
	rent, err := commands.Parse("rent 4090")
	if err != nil {
		t.Fatal(err)
	}
	viewer := req("slack:VERA", "help")
	viewer.Command = &rent
	if svc.Permits(viewer) {
		t.Error("Permits read the text: a viewer may not rent")
	}
	if got := svc.Handle(ctx, viewer); got.Status != commands.StatusDenied || !strings.Contains(got.Text, "rent needs the renter role") {
		t.Errorf("Handle read the text: %+v", got)
	}
}

// Which commands become jobs is a property of the grammar's entries, and
// BecomesJob reads it: the front doors acknowledge these at once.
func TestJobCommandsAreTheGrammarsJobEntries(t *testing.T) {
	var jobs []string
	for _, s := range commands.Grammar() {
		if s.Job != commands.BecomesJob(s.Name) || s.Job != commands.BecomesJob(strings.ToUpper(s.Name)) {
			t.Errorf("%s: Spec.Job %v, BecomesJob %v", s.Name, s.Job, commands.BecomesJob(s.Name))
		}
		if s.Job {
			jobs = append(jobs, s.Name)
		}
	}
	if want := []string{"rent", "cancel", "extend", "confirm"}; !reflect.DeepEqual(jobs, want) {
		t.Errorf("job commands %v, want %v", jobs, want)
	}
	if commands.BecomesJob("") || commands.BecomesJob("nope") {
		t.Error("an unknown command became a job")
	}
}

// Every parse error is a *UsageError, so that ParseRequest carries it as
// it is.
func TestParseErrorsAreUsageErrors(t *testing.T) {
	for _, text := range []string{"", "nope", "rent", `rent "x`, "rent 4090 --spot=maybe", strings.Repeat("x", 5000)} {
		_, err := commands.Parse(text)
		if _, ok := errors.AsType[*commands.UsageError](err); !ok {
			t.Errorf("%.20q: %T %v", text, err, err)
		}
	}
}
