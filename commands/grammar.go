package commands

import (
	"strings"
	"time"
)

// The grammar of DESIGN.md §3 is the one table below: each entry is a
// command with its usage lines, its forms, their arguments and flags (type,
// limits, summaries), whether it becomes a job, its help and the function
// that reads it. The parser, help, which commands front doors acknowledge
// as jobs (Spec.Job) and Discord's /clore (bot/discordbot) are all written
// from it; no other list of commands, flags or limits exists.
//
// Adding a command is one entry in buildGrammar, in help's order, plus
// what only it has: its argument struct on Command, its parse function
// (the entry's parse), its case in Command.render, its handler in
// Service.handle, and its role in policy's needs when a viewer may run it.
// Adding a flag is one Param with Flag, Placeholder and Help set in the
// entry's form, its words in the entry's Usage, and its reading in the
// command's parse function; with Typed set Discord offers it as an option
// (bot/discordbot's commandText writes the option back as text).

// Limits of the grammar.
const (
	maxCommandBytes    = 4096
	maxGPUQueryChars   = 64
	maxImageRefChars   = 256
	maxSSHKeyChars     = 3072
	maxGPUCount        = 16
	maxUSDPerGPUHour   = 1000
	maxRentHours       = 8760
	maxEntityID        = 1 << 53
	maxJobIDChars      = 64
	maxWatchDuration   = 90 * 24 * time.Hour
	maxShownValueChars = 40 // offending values in errors are cut to this
	maxAuditValueChars = 80 // longer values are cut in AuditString
)

// Lowest values a typed option can carry: the parser only asks for more
// than 0; a client that checks ranges (Discord's) needs a bound.
const (
	minTypedPrice  = 0.0001
	minTypedHours  = 0.01
	maxDurationLen = 16
)

// grammar is the table, in the order help lists it. init fills it (its
// entries refer to parse functions that read it); nothing writes to it
// afterwards.
var grammar []Spec

func init() { grammar = finishGrammar(buildGrammar()) }

// Parameters several commands share.
var (
	paramCount = Param{Name: "count", Kind: ParamInt, Min: 1, Max: maxGPUCount, Typed: true,
		Summary: "GPUs wanted, 1 to " + itoa(maxGPUCount) + " (default 1)"}
	paramHours = Param{Name: "hours", Kind: ParamNumber, Min: minTypedHours, Max: maxRentHours, Typed: true}
)

// maxWatchDays is maxWatchDuration as the grammar writes it: "90d".
var maxWatchDays = itoa(int(maxWatchDuration.Hours()/24)) + "d"

func paramGPU(required bool) Param {
	return Param{Name: "gpu", Kind: ParamText, Required: required, MaxLen: maxGPUQueryChars, Suggest: true, Typed: true,
		Summary: "GPU model, e.g. RTX 4090, A100 80GB, H100"}
}

func paramOrder(required bool, summary string) Param {
	return Param{Name: "order-id", Kind: ParamInt, Required: required, Min: 1, Max: maxEntityID, Suggest: true, Typed: true,
		Summary: summary}
}

// buildGrammar is the table's data.
func buildGrammar() []Spec {
	return []Spec{
		{
			Name: "rent", Summary: "Rent a GPU server: the cheapest offer that fits", Typed: true, Job: true, parse: parseRent,
			Usage: []string{"rent <gpu> [count] [--max-price USD_PER_HOUR] [--spot] [--image IMAGE] [--hours H]" +
				" [--ssh-key KEY] [--currency C] [--min-reliability R]"},
			Forms: []Form{{Params: []Param{
				paramGPU(true), paramCount,
				{Name: "max-price", Flag: true, Placeholder: "USD", Kind: ParamNumber, Min: minTypedPrice, Max: maxUSDPerGPUHour, Typed: true,
					Summary: "Highest price in USD per GPU per hour (default: the team's limit)",
					Help:    "highest price in USD per GPU per hour, e.g. 0.45 or $0.45"},
				{Name: "spot", Flag: true, Kind: ParamBool, Typed: true, Summary: "Rent at the cheaper, interruptible spot price",
					Help: "rent at the cheaper, interruptible spot price (default: on-demand)"},
				{Name: "image", Flag: true, Placeholder: "IMAGE", Kind: ParamText, MaxLen: maxImageRefChars, Typed: true,
					Summary: "Docker image (default: the configured image)",
					Help:    "Docker image, e.g. nvidia/cuda:12.8.0-base-ubuntu22.04"},
				paramHours.with(Param{Flag: true, Placeholder: "H",
					Summary: "Cancel automatically after this many hours (default: from the config)",
					Help:    "cancel automatically after H hours"}),
				{Name: "ssh-key", Flag: true, Placeholder: "KEY", Kind: ParamText, MaxLen: maxSSHKeyChars, Summary: "Your SSH public key",
					Help: `your SSH public key, in quotes: "ssh-ed25519 AAAA... you@host"`},
				{Name: "currency", Flag: true, Placeholder: "C", Kind: ParamText, Summary: "Pay in usd, clore or btc",
					Help: "pay in usd, clore or btc"},
				{Name: "min-reliability", Flag: true, Placeholder: "R", Kind: ParamNumber, Min: 0, Max: 1, Summary: "Lowest host reliability, 0 to 1",
					Help: "lowest host reliability, 0 to 1 or a percentage like 95%"},
			}}},
			About:    "rent a GPU server from the Clore.ai marketplace: the cheapest offer that fits.",
			notes:    rentNotes,
			Examples: []string{"rent 4090", "rent a100 80gb 2 --max-price 1.60 --hours 24", "rent 3090 --spot --image nvidia/cuda:12.8.0-base-ubuntu22.04"},
		},
		{
			Name: "cancel", Summary: "Cancel one of your orders", Typed: true, Job: true, parse: parseCancel,
			Usage:    []string{"cancel <order-id>"},
			Forms:    []Form{{Params: []Param{paramOrder(true, "The Clore order id")}}},
			About:    "cancel one of your orders; the server stops and billing ends.",
			Notes:    []string{"<order-id> is the Clore order id that status shows, e.g. 12345 or #12345."},
			Examples: []string{"cancel 12345"},
		},
		{
			Name: "status", Summary: "Your active orders, or one order in detail", Typed: true, parse: parseStatus,
			Usage:    []string{"status [order-id]"},
			Forms:    []Form{{Params: []Param{paramOrder(false, "The Clore order id (default: all your active orders)")}}},
			About:    "show your orders, or one order in detail (state, price, connection details sent only to you).",
			Notes:    []string{"Without an order id it lists your active orders."},
			Examples: []string{"status", "status 12345"},
		},
		{
			Name: "watch", Summary: "Price watches: be told (or rent) when a GPU is offered at a price", Typed: true, parse: parseWatch,
			Usage: []string{"watch <gpu> <max-usd-per-hour> [--auto-rent] [--count N] [--for DURATION]", "watch list | watch cancel <watch-id>"},
			Forms: []Form{
				{Name: "create", Implicit: true, Summary: "Alert (or rent) when a GPU is offered at or below a price", Params: []Param{
					paramGPU(true),
					{Name: "max-price", Placeholder: "max-usd-per-hour", Kind: ParamNumber, Required: true, Min: minTypedPrice,
						Max: maxUSDPerGPUHour, Typed: true, Summary: "Target price in USD per GPU per hour"},
					{Name: "auto-rent", Flag: true, Kind: ParamBool, Typed: true, Summary: "Rent at once when an offer meets the price",
						Help: "rent at once when an offer meets the price, instead of only telling you"},
					paramCount.with(Param{Flag: true, Placeholder: "N", Help: "GPUs wanted, 1 to " + itoa(maxGPUCount) + " (default 1)"}),
					{Name: "for", Placeholder: "DURATION", Flag: true, Kind: ParamText, MaxLen: maxDurationLen, Typed: true,
						Summary: "Stop watching after this long, e.g. 12h, 3d (at most " + maxWatchDays + ")",
						Help:    "stop watching after this long, e.g. 12h, 3d, 1d12h; at most " + maxWatchDays + " (default: until cancelled)"},
				}},
				{Name: "list", Summary: "Your active watches"},
				{Name: "cancel", Summary: "Cancel a watch", Params: []Param{
					{Name: "watch-id", Kind: ParamInt, Required: true, Min: 1, Max: maxEntityID, Typed: true, Summary: "The watch id"}}},
			},
			About: "watch the marketplace and tell you when a GPU is offered at or below a price; with --auto-rent, rent it.",
			Notes: []string{
				"<max-usd-per-hour> is a price in USD per GPU per hour, e.g. 0.40 or $0.40.",
				"watch list shows your watches; watch cancel <watch-id> stops one.",
			},
			Examples: []string{"watch 4090 0.40", "watch h100 2.10 --auto-rent --count 8 --for 3d", "watch cancel 7"},
		},
		{
			Name: "extend", Summary: "Keep one of your orders longer", Typed: true, Job: true, parse: parseExtend,
			Usage: []string{"extend <order-id> [hours]"},
			Forms: []Form{{Params: []Param{
				paramOrder(true, "The Clore order id"),
				paramHours.with(Param{Summary: "Hours added to the order's end (default 1)"}),
			}}},
			About: "keep an order longer: its automatic cancel moves later by the hours given.",
			Notes: []string{
				"[hours] defaults to 1 and counts from the order's current end; the order's whole time stays within the team's maximum.",
				"Only whoever rented the order, or an admin, may extend it.",
			},
			Examples: []string{"extend 12345", "extend 12345 4"},
		},
		{
			// Not typed: it is the Rent now button, with a job id only a reply shows.
			Name: "confirm", Summary: "Confirm a rent that awaits confirmation (the Rent now button)", Job: true, parse: parseConfirm,
			Usage: []string{"confirm <job-id>"},
			Forms: []Form{{Params: []Param{
				{Name: "job-id", Kind: ParamText, Required: true, MaxLen: maxJobIDChars, Summary: "The job id the confirmation shows"}}}},
			About:    "confirm a rent that awaits confirmation: what the Rent now button does.",
			Notes:    []string{"<job-id> is the id the confirmation message shows. The rent is checked against the team's limits again."},
			Examples: []string{"confirm 4xq2m7ab3kfe6c5p"},
		},
		{
			Name: "market", Summary: "Marketplace prices per GPU model", Typed: true, parse: parseMarket,
			Usage: []string{"market [gpu] [--history 24h|7d|30d]"},
			Forms: []Form{{Params: []Param{paramGPU(false),
				{Name: "history", Placeholder: "24h|7d|30d", Flag: true, Kind: ParamText, Typed: true, Choices: HistoryWindows,
					Summary: "A chart of the cheapest offer over the last day, week or month (needs a GPU)",
					Help:    "a chart of the cheapest offer of one GPU model over the last day, week or month"}}}},
			About:    "show offers and prices per GPU model, or the offers for one GPU (prices in USD per GPU per hour).",
			Examples: []string{"market", "market rtx 4090", "market rtx 4090 --history 7d"},
		},
		{
			Name: "spend", Summary: "What was spent, by whom, and what is left of the budgets", Typed: true, parse: parseSpend,
			Usage: []string{"spend [--since 7d|30d|month] [--by user|team|gpu]"},
			Forms: []Form{{Params: []Param{
				{Name: "since", Placeholder: "WINDOW", Flag: true, Kind: ParamText, Typed: true, Choices: spendWindows,
					Summary: "7d, 30d or month (default: this calendar month, UTC)",
					Help:    "7d, 30d or month (default: this calendar month, UTC)"},
				{Name: "by", Placeholder: "GROUP", Flag: true, Kind: ParamText, Typed: true, Choices: spendGroups,
					Summary: "user, team (the door rents came from) or gpu (default: user)",
					Help:    "user, team (the door rents came from) or gpu (default: user)"},
			}}},
			About: "show what orders spent (Clore's own figures, fees included), by whom, what running orders have committed, and what is left of the budgets.",
			Notes: []string{
				"--since is 7d, 30d or month (the calendar month, UTC; the default).",
				"--by groups the rows: user (the default), team (the door the rents came from) or gpu.",
				"You see your own spend; an admin sees everyone's, and the orders made outside clorebot.",
			},
			Examples: []string{"spend", "spend --since 7d --by gpu"},
		},
		{
			// Its topics (Choices) are the typed commands: finishGrammar sets them.
			Name: "help", Summary: "How to use clorebot", Typed: true, parse: parseHelp,
			Usage:    []string{"help [command]"},
			Forms:    []Form{{Params: []Param{{Name: "command", Kind: ParamText, Typed: true, Summary: "A command to explain"}}}},
			About:    "show the overview of every command, or the help of one.",
			Examples: []string{"help", "help rent"},
		},
	}
}

// with is p with the fields set in q: a shared parameter as one command
// uses it.
func (p Param) with(q Param) Param {
	p.Flag = p.Flag || q.Flag
	if q.Placeholder != "" {
		p.Placeholder = q.Placeholder
	}
	if q.Summary != "" {
		p.Summary = q.Summary
	}
	if q.Help != "" {
		p.Help = q.Help
	}
	return p
}

// finishGrammar derives what the entries imply: each command's flags, as
// the parser looks them up, and help's topics.
func finishGrammar(specs []Spec) []Spec {
	var topics []string
	for i := range specs {
		s := &specs[i]
		seen := map[string]bool{}
		for _, f := range s.Forms {
			for _, p := range f.Params {
				if p.Flag && !seen[p.Name] {
					seen[p.Name] = true
					s.flags = append(s.flags, p)
				}
			}
		}
		if s.Typed {
			topics = append(topics, s.Name)
		}
	}
	for i := range specs {
		if specs[i].Name == "help" {
			specs[i].Forms[0].Params[0].Choices = topics
		}
	}
	return specs
}

// lookupSpec finds a command of the grammar by name, case-insensitively.
func lookupSpec(name string) (*Spec, bool) {
	for i := range grammar {
		if strings.EqualFold(grammar[i].Name, name) {
			return &grammar[i], true
		}
	}
	return nil, false
}

// commandNames are the grammar's commands, in help's order.
func commandNames() []string {
	names := make([]string, len(grammar))
	for i, s := range grammar {
		names[i] = s.Name
	}
	return names
}

// BecomesJob reports whether the command named name (case-insensitive)
// becomes a job (Spec.Job): front doors acknowledge it at once and its
// answer comes later.
func BecomesJob(name string) bool {
	s, ok := lookupSpec(name)
	return ok && s.Job
}

// Usage returns the usage line(s) of one command (case-insensitive), or the
// usage lines of every command, one per line, for "" or an unknown name.
func Usage(command string) string {
	if s, ok := lookupSpec(command); ok {
		return strings.Join(s.Usage, "\n")
	}
	var lines []string
	for _, s := range grammar {
		lines = append(lines, s.Usage...)
	}
	return strings.Join(lines, "\n")
}
