package commands

import (
	"slices"
	"strconv"
	"strings"
)

// The grammar as front doors describe it: each command's forms, arguments
// and flags with their types, limits and one-line summaries — the entries
// of the table the parser reads (grammar.go). Discord registers /clore
// from it (typed options with their ranges) and every platform's help is
// written from it: no front door keeps a copy of an option or a limit.

// ParamKind is the type of an argument's or a flag's value.
type ParamKind int

// Param kinds.
const (
	ParamText   ParamKind = iota // free text: a GPU name, an image, a duration
	ParamInt                     // a whole number (ids, counts)
	ParamNumber                  // a number (prices, hours)
	ParamBool                    // a flag without a value
)

// Param is one argument or flag of a command form.
type Param struct {
	// Name is the argument's name, or the flag's without "--": "gpu",
	// "count", "max-price", "order-id". Platforms with named options
	// spell it with "_" (max_price).
	Name string
	// Placeholder stands for the value in usage lines: "USD", "H".
	Placeholder string
	Flag        bool // a --flag, else a positional argument
	Kind        ParamKind
	Required    bool
	Min, Max    float64 // the numeric range; Max 0: none
	MaxLen      int     // the text's length limit; 0: none
	// Summary says what it is, with its unit and default, in at most 100
	// characters (Discord's limit for an option's description).
	Summary string
	// Suggest: values can be suggested while typed (GPU models, orders).
	Suggest bool
	// Typed: offered as an option where a platform has typed options
	// (Discord); the rest is for the text grammar only.
	Typed   bool
	Choices []string
	// Help is the text grammar's line for a flag, in help and in the error
	// of a flag given without its value; "" means Summary.
	Help string
}

// OptionName is p's name where options are identifiers: "max_price".
// Discord's /clore options are named so.
func (p Param) OptionName() string { return strings.ReplaceAll(p.Name, "-", "_") }

// Form is one way to call a command: watch has create, list and cancel.
type Form struct {
	// Name is "" for a command's one form; else the form's name, which the
	// text grammar writes after the command unless Implicit.
	Name string
	// Implicit: the text grammar names this form by its arguments alone
	// (watch <gpu> <max-usd-per-hour> is watch's create form).
	Implicit bool
	Summary  string // at most 100 characters
	Params   []Param
}

// Spec is one command of the grammar.
type Spec struct {
	Name    string
	Summary string // at most 100 characters
	Usage   []string
	Forms   []Form
	// Typed: offered as a typed command where a platform registers its
	// commands (confirm is the Rent now button, with a job id only a
	// reply shows).
	Typed bool
	// Job: the command changes state under the request's idempotency key —
	// it stores a durable job (rent, cancel), queues one (confirm) or makes
	// a keyed change (extend) — and may wait on storage doing it. Front
	// doors acknowledge it at once, before the command layer runs it, and
	// show its answer (a job's progress) later, in a message of its own.
	Job bool
	// About, Notes and Examples are the command's help (HelpText): what it
	// does, lines on its arguments, and commands to copy.
	About    string
	Notes    []string
	Examples []string

	parse func(pos []string, flags flagValues) (Command, error) // reads the command's words
	notes func(HelpValues) []string                             // Notes that quote the team's policy
	flags []Param                                               // the Flag params of every form, once each
}

// notesFor is s's help notes, quoting v where s's notes depend on policy.
func (s *Spec) notesFor(v HelpValues) []string {
	if s.notes != nil {
		return s.notes(v)
	}
	return s.Notes
}

// Grammar returns the commands of DESIGN.md §3 in help's order. The slice
// is new on every call: callers may keep it and change it.
func Grammar() []Spec {
	specs := make([]Spec, len(grammar))
	for i, s := range grammar {
		s.Usage = slices.Clone(s.Usage)
		s.Notes = slices.Clone(s.notesFor(HelpValues{}))
		s.Examples = slices.Clone(s.Examples)
		s.Forms = slices.Clone(s.Forms)
		for j := range s.Forms {
			s.Forms[j].Params = slices.Clone(s.Forms[j].Params)
			for k := range s.Forms[j].Params {
				s.Forms[j].Params[k].Choices = slices.Clone(s.Forms[j].Params[k].Choices)
			}
		}
		s.flags = slices.Clone(s.flags)
		specs[i] = s
	}
	return specs
}

func itoa(n int) string { return strconv.Itoa(n) }
