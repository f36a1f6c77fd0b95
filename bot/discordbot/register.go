package discordbot

import (
	"context"
	"fmt"
	"math"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/commands"
)

// CommandName is the one application command clorebot registers.
const CommandName = "clore"

// Option names of /clore's subcommands: the grammar's parameter names
// (commands.Param.OptionName), which Command registers.
const (
	optGPU      = "gpu"
	optCount    = "count"
	optMaxPrice = "max_price"
	optSpot     = "spot"
	optImage    = "image"
	optHours    = "hours"
	optOrder    = "order_id"
	optAutoRent = "auto_rent"
	optFor      = "for"
	optWatch    = "watch_id"
	optTopic    = "command"
	optHistory  = "history"
)

// maxOptionID is the largest integer Discord's options carry (2^53).
const maxOptionID = 1 << 53

// Command is /clore as it is registered, written from the grammar
// (commands.Grammar): a subcommand per typed command (a group for one with
// several forms, watch), an option per typed parameter with its type,
// range, length, choices and summary. Discord checks the ranges in its
// client; the command layer checks them again, since an HTTP interaction
// need not come from Discord's client. With allowDMs false /clore is
// offered in guilds only.
func Command(allowDMs bool) *discordgo.ApplicationCommand {
	var subs []*discordgo.ApplicationCommandOption
	for _, spec := range commands.Grammar() {
		if !spec.Typed {
			continue
		}
		if len(spec.Forms) == 1 && spec.Forms[0].Name == "" {
			subs = append(subs, subcommand(spec.Name, spec.Summary, spec.Forms[0]))
			continue
		}
		group := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommandGroup,
			Name: spec.Name, Description: spec.Summary}
		for _, f := range spec.Forms {
			group.Options = append(group.Options, subcommand(f.Name, f.Summary, f))
		}
		subs = append(subs, group)
	}
	contexts := []discordgo.InteractionContextType{discordgo.InteractionContextGuild}
	if allowDMs {
		contexts = append(contexts, discordgo.InteractionContextBotDM)
	}
	return &discordgo.ApplicationCommand{
		Name: CommandName, Type: discordgo.ChatApplicationCommand,
		Description: "Rent, watch and cancel GPU servers on the Clore.ai marketplace",
		Contexts:    &contexts, Options: subs,
	}
}

// subcommand is one form as a subcommand with its typed parameters.
func subcommand(name, summary string, f commands.Form) *discordgo.ApplicationCommandOption {
	sub := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommand,
		Name: name, Description: summary}
	for _, p := range f.Params {
		if p.Typed {
			sub.Options = append(sub.Options, option(p))
		}
	}
	return sub
}

// option is one parameter as an option.
func option(p commands.Param) *discordgo.ApplicationCommandOption {
	o := &discordgo.ApplicationCommandOption{Name: p.OptionName(), Description: p.Summary, Required: p.Required,
		Autocomplete: p.Suggest}
	switch p.Kind {
	case commands.ParamBool:
		o.Type = discordgo.ApplicationCommandOptionBoolean
	case commands.ParamInt:
		o.Type = discordgo.ApplicationCommandOptionInteger
	case commands.ParamNumber:
		o.Type = discordgo.ApplicationCommandOptionNumber
	default:
		o.Type = discordgo.ApplicationCommandOptionString
		o.MaxLength = p.MaxLen
		for _, c := range p.Choices {
			o.Choices = append(o.Choices, &discordgo.ApplicationCommandOptionChoice{Name: c, Value: c})
		}
	}
	if p.Kind == commands.ParamInt || p.Kind == commands.ParamNumber {
		o.MinValue = ptr(p.Min)
		if p.Max > 0 && p.Max < maxOptionID {
			o.MaxValue = p.Max
		}
	}
	return o
}

func ptr[T any](v T) *T { return &v }

// register overwrites the application's commands with /clore: in each
// configured guild (applies at once), else globally (Discord may take up to
// an hour to show a global change).
func (b *Bot) register(ctx context.Context) error {
	cmds := []*discordgo.ApplicationCommand{Command(b.o.AllowDMs)}
	guilds := b.o.GuildIDs
	if len(guilds) == 0 {
		guilds = []string{""}
	}
	for _, g := range guilds {
		if _, err := b.rest.ApplicationCommandBulkOverwrite(b.o.AppID, g, cmds, discordgo.WithContext(ctx)); err != nil {
			where := "globally"
			if g != "" {
				where = "in guild " + g
			}
			return fmt.Errorf("discordbot: register /%s %s: %w", CommandName, where, b.redact(err))
		}
	}
	return nil
}

// paramOf finds a typed parameter of the grammar by command, form and
// option name (for the ranges commandText checks).
func paramOf(command, form, option string) (commands.Param, bool) {
	for _, s := range commands.Grammar() {
		if s.Name != command {
			continue
		}
		for _, f := range s.Forms {
			if f.Name != form {
				continue
			}
			for _, p := range f.Params {
				if p.Typed && p.OptionName() == option {
					return p, true
				}
			}
		}
	}
	return commands.Param{}, false
}

// The grammar's limits that commandText checks again (an HTTP interaction
// need not come from Discord's client, which checks the registered ones).
var (
	countRange = rangeOf("rent", "", optCount)        // GPUs
	idRange    = rangeOf("cancel", "", optOrder)      // order and watch ids
	gpuMaxLen  = mustParam("rent", "", optGPU).MaxLen // a GPU name's characters
)

// rangeOf is the numeric range of a typed parameter of the grammar.
func rangeOf(command, form, option string) [2]float64 {
	p := mustParam(command, form, option)
	return [2]float64{math.Max(p.Min, 1), p.Max}
}

// mustParam is paramOf for a parameter this package names: one the
// grammar lost is a programming error, found by any test.
func mustParam(command, form, option string) commands.Param {
	p, ok := paramOf(command, form, option)
	if !ok {
		panic("discordbot: the grammar has no option " + option + " of " + command)
	}
	return p
}
