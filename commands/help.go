package commands

import (
	"cmp"
	"fmt"
	"strings"
	"sync"
)

// HelpText returns the help of one command (case-insensitive): what it does,
// its usage, its flags with units, and examples. For "" or an unknown topic
// it returns the overview of every command. Defaults and limits that the
// team's policy sets are named, not quoted: HelpTextFor quotes them.
func HelpText(topic string) string { return HelpTextFor(topic, HelpValues{}) }

// HelpValues are the defaults and limits a command's help quotes: the
// team's policy and the default image. Without Policy, the policy's values
// are named instead ("the team's maximum"); with it, a zero limit is none.
type HelpValues struct {
	Policy                        bool // the fields below are the policy's
	DefaultImage                  string
	DefaultHours, MaxHours        float64
	MaxPricePerHour, ConfirmAbove float64
	MinReliability                float64
}

// HelpValuesOf are the help values of policy p and the default image ("":
// DefaultImage).
func HelpValuesOf(p Policy, image string) HelpValues {
	if image == "" {
		image = DefaultImage
	}
	return HelpValues{Policy: true, DefaultImage: image, DefaultHours: p.DefaultHours, MaxHours: p.MaxHours,
		MaxPricePerHour: p.MaxPricePerHour, ConfirmAbove: p.ConfirmAbove, MinReliability: p.MinReliability}
}

// HelpTextFor is HelpText quoting v: a flag's line ends with its default and
// limit as the policy sets them.
func HelpTextFor(topic string, v HelpValues) string {
	spec, ok := lookupGrammarCommand(strings.TrimSpace(topic))
	if !ok {
		return helpOverview()
	}
	var b strings.Builder
	about, notes, examples := helpDetails(spec.name, v)
	fmt.Fprintf(&b, "%s: %s\n\nUsage: %s\n", spec.name, about, strings.Join(spec.usage, "\n       "))
	if len(spec.flags) > 0 {
		b.WriteString("\n")
		for _, f := range spec.flags {
			left := "--" + f.name
			if !f.boolean {
				left += " " + f.arg
			}
			fmt.Fprintf(&b, "  %-22s %s%s\n", left, f.help, flagDefault(spec.name, f.name, v))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	b.WriteString("\nExamples:\n")
	for _, e := range examples {
		b.WriteString("  " + e + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// helpOverview is built once: it never changes, and help is the command
// a team runs most. Its lines are written from the grammar (Grammar).
var helpOverview = sync.OnceValue(func() string {
	var b strings.Builder
	b.WriteString(helpIntro + "\n\n")
	for _, s := range Grammar() {
		for _, f := range s.Forms {
			fmt.Fprintf(&b, "  %-42s %s\n", shortUsage(s, f, textStyle), formSummary(s, f))
		}
	}
	b.WriteString("\n" + helpPrices + "\n" + helpNames + "\n")
	b.WriteString("More about one command: help rent, help watch, ...")
	return b.String()
})

// Lines every overview shows.
const (
	helpIntro  = "clorebot rents GPU servers on the Clore.ai marketplace."
	helpPrices = "Prices are in USD per GPU per hour, so that servers with different GPU counts compare fairly."
	helpNames  = `GPU names are forgiving: 4090, rtx4090, "RTX 4090", "a100 80gb", h100.`
)

// usageStyle says how a platform writes a command's arguments.
type usageStyle int

const (
	textStyle   usageStyle = iota // the text grammar: rent <gpu> [count] [flags]
	optionStyle                   // named options (Discord): rent gpu [count] [max_price] …
)

// shortUsage is one form of a command in a style: its arguments, and its
// flags as "[flags]" (text) or one by one (options).
func shortUsage(s Spec, f Form, style usageStyle) string {
	words := []string{s.Name}
	if f.Name != "" && (style == optionStyle || !f.Implicit) {
		words = append(words, f.Name)
	}
	flags := false
	for _, p := range f.Params {
		switch {
		case style == optionStyle && !p.Typed:
		case style == optionStyle && p.Required:
			words = append(words, p.OptionName())
		case style == optionStyle:
			words = append(words, "["+p.OptionName()+"]")
		case p.Flag:
			flags = true
		case p.Required:
			words = append(words, "<"+orString(p.Placeholder, p.Name)+">")
		default:
			words = append(words, "["+orString(p.Placeholder, p.Name)+"]")
		}
	}
	if flags {
		words = append(words, "[flags]")
	}
	return strings.Join(words, " ")
}

// formSummary is what a form does: its own summary, or its command's.
func formSummary(s Spec, f Form) string {
	if f.Summary != "" {
		return f.Summary
	}
	return s.Summary
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// HelpFor is the help of topic as a reply to platform says it: slash
// commands to type on Slack, /clore's options on Discord (which offers no
// flag it does not have, and not confirm), the command line's text for the
// CLI and webhooks. Every version is written from the grammar.
func HelpFor(platform, topic string) string {
	var style usageStyle
	switch platform {
	case PlatformSlack:
		style = textStyle
	case PlatformDiscord:
		style = optionStyle
	default:
		return HelpText(topic)
	}
	helps := chatHelps()
	if h, ok := helps[helpKey{style, strings.ToLower(strings.TrimSpace(topic))}]; ok {
		return h
	}
	return helps[helpKey{style, ""}]
}

// helpKey is one chat help: a style and a topic ("" for the overview).
type helpKey struct {
	style usageStyle
	topic string
}

// chatHelps holds every chat help, written once: help is the command a
// team runs most, and its answer goes in the acknowledgement.
var chatHelps = sync.OnceValue(func() map[helpKey]string {
	m := map[helpKey]string{}
	for _, style := range []usageStyle{textStyle, optionStyle} {
		m[helpKey{style, ""}] = chatHelp("", style)
		for _, s := range Grammar() {
			if h := chatHelp(s.Name, style); h != m[helpKey{style, ""}] {
				m[helpKey{style, s.Name}] = h
			}
		}
	}
	return m
})

// chatHelp is help for a chat platform, with commands as marks (CommandHint).
func chatHelp(topic string, style usageStyle) string {
	specs := Grammar()
	var b strings.Builder
	for _, s := range specs {
		if !strings.EqualFold(s.Name, strings.TrimSpace(topic)) || style == optionStyle && !s.Typed {
			continue
		}
		about, notes, examples := helpDetails(s.Name, HelpValues{})
		b.WriteString(s.Name + ": " + about + "\n")
		for _, f := range s.Forms {
			b.WriteString("\n" + CommandHint(shortUsage(s, f, style)) + " " + formSummary(s, f) + "\n")
			for _, p := range f.Params {
				if style == optionStyle && !p.Typed {
					continue
				}
				b.WriteString("• " + paramName(p, style) + ": " + p.Summary + "\n")
			}
		}
		if style == textStyle {
			if len(notes) > 0 {
				b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
			}
			b.WriteString("\nExamples:")
			for _, e := range examples {
				b.WriteString(" " + CommandHint(e))
			}
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	b.WriteString(helpIntro + "\n")
	for _, s := range specs {
		if style == optionStyle && !s.Typed {
			continue
		}
		for _, f := range s.Forms {
			b.WriteString("\n" + CommandHint(shortUsage(s, f, style)) + " " + formSummary(s, f))
		}
	}
	b.WriteString("\n\n" + helpPrices + "\n" + helpNames + "\nMore about one command: " + CommandHint("help rent"))
	return b.String()
}

// paramName is how a platform's help names a parameter.
func paramName(p Param, style usageStyle) string {
	name := p.OptionName()
	if style == textStyle {
		name = orString(p.Placeholder, p.Name)
		if p.Flag {
			name = "--" + p.Name
			if p.Kind != ParamBool {
				name += " " + orString(p.Placeholder, "VALUE")
			}
		}
	}
	if p.Required {
		name += " (required)"
	}
	return name
}

// flagDefault is what a flag's help line says of its default and limit,
// from v; "" for flags whose help says it all.
func flagDefault(command, flag string, v HelpValues) string {
	if command != "rent" {
		return ""
	}
	switch flag {
	case "max-price":
		switch {
		case !v.Policy:
			return " (default: no cap below the team's limit)"
		case v.MaxPricePerHour > 0:
			return fmt.Sprintf(" (default and most: %s, the team's limit)", usd(v.MaxPricePerHour))
		}
		return " (default: no cap)"
	case "image":
		return " (default: " + cmp.Or(v.DefaultImage, DefaultImage) + ")"
	case "hours":
		if !v.Policy {
			return ", up to the team's maximum (default: the team's default)"
		}
		most := formatNumber(float64(maxRentHours))
		if v.MaxHours > 0 {
			most = formatNumber(min(v.MaxHours, maxRentHours))
		}
		if v.DefaultHours > 0 {
			return fmt.Sprintf(", up to %s (default %s)", most, formatNumber(v.DefaultHours))
		}
		return fmt.Sprintf(", up to %s (default: no automatic cancel)", most)
	case "currency":
		return " (default: any currency your wallet can pay)"
	case "min-reliability":
		if !v.Policy {
			return " (default: the team's minimum)"
		}
		return fmt.Sprintf(" (default %s)", formatNumber(v.MinReliability))
	}
	return ""
}

// helpDetails returns a command's description, notes and examples.
func helpDetails(name string, v HelpValues) (about string, notes, examples []string) {
	switch name {
	case "rent":
		hours, capText, confirm := "the team's default hours", "no price cap below the team's limit", "the team's confirm threshold"
		if v.Policy {
			hours, capText, confirm = "no automatic cancel", "no price cap", ""
			if v.DefaultHours > 0 {
				hours = "cancelled after " + formatNumber(v.DefaultHours) + " hours"
			}
			if v.MaxPricePerHour > 0 {
				capText = "at most " + usd(v.MaxPricePerHour) + " per GPU per hour (the team's limit)"
			}
			if v.ConfirmAbove > 0 {
				confirm = usd(v.ConfirmAbove) + " per hour for the whole order"
			}
		}
		rentNotes := []string{
			"<gpu> is a GPU model: 4090, \"rtx 3060 ti\", \"a100 80gb\", h100 (a family such as h100 takes any of its variants).",
			"[count] is the number of GPUs in the server, 1 to 16 (default 1); \"2x 4090\" works too.",
			fmt.Sprintf("Without flags: 1 GPU, on-demand, image %s, %s, any currency your wallet can pay, %s.",
				cmp.Or(v.DefaultImage, DefaultImage), hours, capText),
		}
		if confirm != "" {
			rentNotes = append(rentNotes, "A price above "+confirm+" asks you to confirm before anything is rented.")
		}
		return "rent a GPU server from the Clore.ai marketplace: the cheapest offer that fits.",
			rentNotes,
			[]string{"rent 4090", "rent a100 80gb 2 --max-price 1.60 --hours 24", "rent 3090 --spot --image nvidia/cuda:12.8.0-base-ubuntu22.04"}
	case "cancel":
		return "cancel one of your orders; the server stops and billing ends.",
			[]string{"<order-id> is the Clore order id that status shows, e.g. 12345 or #12345."},
			[]string{"cancel 12345"}
	case "status":
		return "show your orders, or one order in detail (state, price, connection details sent only to you).",
			[]string{"Without an order id it lists your active orders."},
			[]string{"status", "status 12345"}
	case "watch":
		return "watch the marketplace and tell you when a GPU is offered at or below a price; with --auto-rent, rent it.",
			[]string{
				"<max-usd-per-hour> is a price in USD per GPU per hour, e.g. 0.40 or $0.40.",
				"watch list shows your watches; watch cancel <watch-id> stops one.",
			},
			[]string{"watch 4090 0.40", "watch h100 2.10 --auto-rent --count 8 --for 3d", "watch cancel 7"}
	case "extend":
		return "keep an order longer: its automatic cancel moves later by the hours given.",
			[]string{
				"[hours] defaults to 1 and counts from the order's current end; the order's whole time stays within the team's maximum.",
				"Only whoever rented the order, or an admin, may extend it.",
			},
			[]string{"extend 12345", "extend 12345 4"}
	case "confirm":
		return "confirm a rent that awaits confirmation: what the Rent now button does.",
			[]string{"<job-id> is the id the confirmation message shows. The rent is checked against the team's limits again."},
			[]string{"confirm 4xq2m7ab3kfe6c5p"}
	case "market":
		return "show offers and prices per GPU model, or the offers for one GPU (prices in USD per GPU per hour).",
			nil,
			[]string{"market", "market rtx 4090"}
	case "spend":
		return "show what orders spent (Clore's own figures, fees included), by whom, what running orders have committed, and what is left of the budgets.",
			[]string{
				"--since is 7d, 30d or month (the calendar month, UTC; the default).",
				"--by groups the rows: user (the default), team (the door the rents came from) or gpu.",
				"You see your own spend; an admin sees everyone's, and the orders made outside clorebot.",
			},
			[]string{"spend", "spend --since 7d --by gpu"}
	default:
		return "show the overview of every command, or the help of one.",
			nil,
			[]string{"help", "help rent"}
	}
}
