package discordbot

import (
	"slices"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/commands"
)

// /clore as registered is the grammar: a subcommand (or a group of them)
// per typed command, an option per typed parameter, with the grammar's
// type, requiredness, range, length, choices and summary — no limit typed
// twice. The known limits are checked by value too, so that a grammar and
// a schema wrong together still fail.
func TestSchemaLimitsAreTheGrammars(t *testing.T) {
	t.Parallel()
	cmd := Command(false)
	subs := map[string]*discordgo.ApplicationCommandOption{}
	for _, o := range cmd.Options {
		subs[o.Name] = o
	}
	limits := map[string]float64{} // "command.form.option" -> the schema's MaxValue
	checked := 0
	for _, s := range commands.Grammar() {
		sub, ok := subs[s.Name]
		if ok != s.Typed {
			t.Errorf("/clore %s registered %v, typed %v", s.Name, ok, s.Typed)
			continue
		}
		if !ok {
			continue
		}
		delete(subs, s.Name)
		for _, f := range s.Forms {
			form := sub
			if f.Name != "" {
				form = nil
				for _, o := range sub.Options {
					if o.Name == f.Name && o.Type == discordgo.ApplicationCommandOptionSubCommand {
						form = o
					}
				}
				if form == nil || sub.Type != discordgo.ApplicationCommandOptionSubCommandGroup {
					t.Errorf("/clore %s %s: no subcommand in a group", s.Name, f.Name)
					continue
				}
			}
			var typed []string
			for _, p := range f.Params {
				if !p.Typed {
					continue
				}
				typed = append(typed, p.OptionName())
				o := optionNamed(form.Options, p.OptionName())
				if o == nil {
					t.Errorf("/clore %s %s: no option %s", s.Name, f.Name, p.OptionName())
					continue
				}
				checked++
				checkOption(t, s.Name+" "+f.Name, p, o)
				if o.MaxValue != 0 {
					limits[s.Name+"."+f.Name+"."+o.Name] = o.MaxValue
				}
			}
			var got []string
			for _, o := range form.Options {
				got = append(got, o.Name)
			}
			if !slices.Equal(got, typed) {
				t.Errorf("/clore %s %s: options %v, the grammar's typed parameters %v", s.Name, f.Name, got, typed)
			}
		}
	}
	for name := range subs {
		t.Errorf("/clore %s is not in the grammar", name)
	}
	if checked < 15 {
		t.Errorf("only %d options checked", checked)
	}
	for k, want := range map[string]float64{"rent..count": 16, "rent..max_price": 1000, "rent..hours": 8760,
		"extend..hours": 8760, "watch.create.max_price": 1000, "watch.create.count": 16} {
		if limits[k] != want {
			t.Errorf("%s: MaxValue %v, want %v", k, limits[k], want)
		}
	}
	if countRange != [2]float64{1, 16} || idRange != [2]float64{1, 1 << 53} || gpuMaxLen != 64 {
		t.Errorf("commandText's limits: count %v, ids %v, GPU %d characters", countRange, idRange, gpuMaxLen)
	}
}

func optionNamed(opts []*discordgo.ApplicationCommandOption, name string) *discordgo.ApplicationCommandOption {
	for _, o := range opts {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// checkOption compares one registered option with its grammar parameter.
func checkOption(t *testing.T, where string, p commands.Param, o *discordgo.ApplicationCommandOption) {
	t.Helper()
	want := map[commands.ParamKind]discordgo.ApplicationCommandOptionType{
		commands.ParamText: discordgo.ApplicationCommandOptionString, commands.ParamInt: discordgo.ApplicationCommandOptionInteger,
		commands.ParamNumber: discordgo.ApplicationCommandOptionNumber, commands.ParamBool: discordgo.ApplicationCommandOptionBoolean,
	}[p.Kind]
	if o.Type != want {
		t.Errorf("%s %s: type %v, want %v", where, o.Name, o.Type, want)
	}
	if o.Required != p.Required || o.Description != p.Summary || o.Autocomplete != p.Suggest {
		t.Errorf("%s %s: required %v, description %q, autocomplete %v; the grammar says %v, %q, %v",
			where, o.Name, o.Required, o.Description, o.Autocomplete, p.Required, p.Summary, p.Suggest)
	}
	switch p.Kind {
	case commands.ParamInt, commands.ParamNumber:
		if o.MinValue == nil || *o.MinValue != p.Min {
			t.Errorf("%s %s: MinValue %v, the grammar's Min %v", where, o.Name, o.MinValue, p.Min)
		}
		wantMax := p.Max
		if wantMax >= maxOptionID {
			wantMax = 0 // Discord's own bound
		}
		if o.MaxValue != wantMax {
			t.Errorf("%s %s: MaxValue %v, the grammar's Max %v", where, o.Name, o.MaxValue, p.Max)
		}
	case commands.ParamText:
		if o.MaxLength != p.MaxLen {
			t.Errorf("%s %s: MaxLength %d, the grammar's MaxLen %d", where, o.Name, o.MaxLength, p.MaxLen)
		}
		var choices []string
		for _, c := range o.Choices {
			choices = append(choices, c.Name)
			if c.Value != c.Name {
				t.Errorf("%s %s: choice %q has value %v", where, o.Name, c.Name, c.Value)
			}
		}
		if !slices.Equal(choices, p.Choices) {
			t.Errorf("%s %s: choices %v, the grammar's %v", where, o.Name, choices, p.Choices)
		}
	}
}
