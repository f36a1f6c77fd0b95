package commands

import (
	"strconv"
	"strings"
)

// The grammar as front doors describe it: each command's forms, arguments
// and flags with their types, limits and one-line summaries, from the same
// limits the parser checks. Discord registers /clore from it (typed
// options with their ranges) and every platform's help is written from
// it: no front door keeps a copy of an option or a limit.

// ParamKind is the type of an argument's or a flag's value.
type ParamKind int

// Param kinds.
const (
	ParamText   ParamKind = iota // free text: a GPU name, an image, a duration
	ParamInt                     // a whole number (ids, counts)
	ParamNumber                  // a number (prices, hours)
	ParamBool                    // a flag without a value
)

// Lowest values a typed option can carry: the parser only asks for more
// than 0; a client that checks ranges (Discord's) needs a bound.
const (
	minTypedPrice  = 0.0001
	minTypedHours  = 0.01
	maxDurationLen = 16
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
}

// Grammar returns the commands of DESIGN.md §3 in help's order. The slice
// is new on every call: callers may keep it.
func Grammar() []Spec {
	gpu := func(required bool) Param {
		return Param{Name: "gpu", Kind: ParamText, Required: required, MaxLen: maxGPUQueryChars, Suggest: true, Typed: true,
			Summary: "GPU model, e.g. RTX 4090, A100 80GB, H100"}
	}
	count := Param{Name: "count", Kind: ParamInt, Min: 1, Max: maxGPUCount, Typed: true,
		Summary: "GPUs wanted, 1 to " + itoa(maxGPUCount) + " (default 1)"}
	order := func(required bool, summary string) Param {
		return Param{Name: "order-id", Kind: ParamInt, Required: required, Min: 1, Max: maxEntityID, Suggest: true, Typed: true,
			Summary: summary}
	}
	hours := func(summary string) Param {
		return Param{Name: "hours", Kind: ParamNumber, Min: minTypedHours, Max: maxRentHours, Typed: true,
			Summary: summary}
	}
	rentFlags := flagsOf("rent")
	flag := func(name string, p Param) Param {
		p.Name, p.Flag = name, true
		if f, ok := rentFlags[name]; ok && p.Placeholder == "" && !f.boolean {
			p.Placeholder = f.arg
		}
		if rentFlags[name].boolean {
			p.Kind = ParamBool
		}
		return p
	}
	var topics []string
	specs := []Spec{
		{Name: "rent", Summary: "Rent a GPU server: the cheapest offer that fits", Typed: true, Forms: []Form{{Params: []Param{
			gpu(true), count,
			flag("max-price", Param{Kind: ParamNumber, Min: minTypedPrice, Max: maxUSDPerGPUHour, Typed: true,
				Summary: "Highest price in USD per GPU per hour (default: the team's limit)"}),
			flag("spot", Param{Kind: ParamBool, Typed: true, Summary: "Rent at the cheaper, interruptible spot price"}),
			flag("image", Param{Kind: ParamText, MaxLen: maxImageRefChars, Typed: true, Summary: "Docker image (default: the configured image)"}),
			flag("hours", hours("Cancel automatically after this many hours (default: from the config)")),
			flag("ssh-key", Param{Kind: ParamText, MaxLen: maxSSHKeyChars, Summary: "Your SSH public key"}),
			flag("currency", Param{Kind: ParamText, Summary: "Pay in usd, clore or btc"}),
			flag("min-reliability", Param{Kind: ParamNumber, Min: 0, Max: 1, Summary: "Lowest host reliability, 0 to 1"}),
		}}}},
		{Name: "cancel", Summary: "Cancel one of your orders", Typed: true, Forms: []Form{{Params: []Param{
			order(true, "The Clore order id")}}}},
		{Name: "status", Summary: "Your active orders, or one order in detail", Typed: true, Forms: []Form{{Params: []Param{
			order(false, "The Clore order id (default: all your active orders)")}}}},
		{Name: "watch", Summary: "Price watches: be told (or rent) when a GPU is offered at a price", Typed: true, Forms: []Form{
			{Name: "create", Implicit: true, Summary: "Alert (or rent) when a GPU is offered at or below a price", Params: []Param{
				gpu(true),
				{Name: "max-price", Placeholder: "max-usd-per-hour", Kind: ParamNumber, Required: true, Min: minTypedPrice,
					Max: maxUSDPerGPUHour, Typed: true, Summary: "Target price in USD per GPU per hour"},
				{Name: "auto-rent", Flag: true, Kind: ParamBool, Typed: true, Summary: "Rent at once when an offer meets the price"},
				func() Param { c := count; c.Flag, c.Placeholder = true, "N"; return c }(),
				{Name: "for", Placeholder: "DURATION", Flag: true, Kind: ParamText, MaxLen: maxDurationLen, Typed: true,
					Summary: "Stop watching after this long, e.g. 12h, 3d (at most " + itoa(int(maxWatchDuration.Hours()/24)) + "d)"},
			}},
			{Name: "list", Summary: "Your active watches"},
			{Name: "cancel", Summary: "Cancel a watch", Params: []Param{
				{Name: "watch-id", Kind: ParamInt, Required: true, Min: 1, Max: maxEntityID, Typed: true, Summary: "The watch id"}}},
		}},
		{Name: "extend", Summary: "Keep one of your orders longer", Typed: true, Forms: []Form{{Params: []Param{
			order(true, "The Clore order id"),
			hours("Hours added to the order's end (default 1)"),
		}}}},
		{Name: "confirm", Summary: "Confirm a rent that awaits confirmation (the Rent now button)", Forms: []Form{{Params: []Param{
			{Name: "job-id", Kind: ParamText, Required: true, MaxLen: 64, Summary: "The job id the confirmation shows"}}}}},
		{Name: "market", Summary: "Marketplace prices per GPU model", Typed: true, Forms: []Form{{Params: []Param{gpu(false),
			{Name: "history", Placeholder: "24h|7d|30d", Flag: true, Kind: ParamText, Typed: true, Choices: HistoryWindows,
				Summary: "A chart of the cheapest offer over the last day, week or month (needs a GPU)"}}}}},
		{Name: "help", Summary: "How to use clorebot", Typed: true},
	}
	for i := range specs {
		c, _ := lookupGrammarCommand(specs[i].Name)
		specs[i].Usage = append([]string(nil), c.usage...)
		if specs[i].Typed {
			topics = append(topics, specs[i].Name)
		}
	}
	help := &specs[len(specs)-1]
	help.Forms = []Form{{Params: []Param{{Name: "command", Kind: ParamText, Typed: true, Choices: topics,
		Summary: "A command to explain"}}}}
	return specs
}

// flagsOf indexes a command's flags by name.
func flagsOf(command string) map[string]grammarFlag {
	c, _ := lookupGrammarCommand(command)
	m := make(map[string]grammarFlag, len(c.flags))
	for _, f := range c.flags {
		m[f.name] = f
	}
	return m
}

func itoa(n int) string { return strconv.Itoa(n) }
