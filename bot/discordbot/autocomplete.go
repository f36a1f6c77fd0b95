package discordbot

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/commands"
)

// onAutocomplete offers choices for the option being typed: GPU models from
// the current marketplace snapshot, or the requester's orders. It answers
// within the ack budget whatever happens; an error offers nothing.
func (b *Bot) onAutocomplete(ctx context.Context, i *discordgo.Interaction, respond responder) {
	actx, cancel := context.WithTimeout(ctx, b.o.AckBudget)
	defer cancel()
	var choices []*discordgo.ApplicationCommandOptionChoice
	if o := focused(i.ApplicationCommandData().Options); o != nil {
		typed := fmt.Sprint(o.Value)
		if f, ok := o.Value.(float64); ok {
			typed = strconv.FormatFloat(f, 'f', -1, 64)
		}
		switch o.Name {
		case optGPU:
			choices = b.gpuChoices(actx, typed)
		case optOrder:
			choices = b.orderChoices(actx, b.commandRequest(i, ""), typed)
		}
	}
	if choices == nil {
		choices = []*discordgo.ApplicationCommandOptionChoice{}
	}
	err := respond(ctx, &discordgo.InteractionResponse{Type: discordgo.InteractionApplicationCommandAutocompleteResult,
		Data: &discordgo.InteractionResponseData{Choices: choices}})
	b.report(ctx, i, "autocomplete", err)
}

// focused finds the option being typed, in a subcommand or a group's subcommand.
func focused(opts []*discordgo.ApplicationCommandInteractionDataOption) *discordgo.ApplicationCommandInteractionDataOption {
	for _, o := range opts {
		if o.Focused {
			return o
		}
		if f := focused(o.Options); f != nil {
			return f
		}
	}
	return nil
}

// gpuChoices are the models on offer matching what was typed, most
// available first; when nothing matches, the nearest model.
func (b *Bot) gpuChoices(ctx context.Context, typed string) []*discordgo.ApplicationCommandOptionChoice {
	sums, err := b.svc.Market(ctx)
	if err != nil {
		return nil
	}
	models := make([]string, 0, len(sums))
	for _, m := range sums {
		models = append(models, m.Model)
	}
	typed = strings.TrimSpace(typed)
	var pick []string
	if typed != "" {
		pick = commands.MatchGPU(typed, models)
		lower := strings.ToLower(strings.Join(strings.Fields(typed), ""))
		for _, m := range models {
			if strings.Contains(strings.ToLower(strings.ReplaceAll(m, " ", "")), lower) && !slices.Contains(pick, m) {
				pick = append(pick, m)
			}
		}
		if len(pick) == 0 {
			if s := commands.SuggestGPU(typed, models); s != "" {
				pick = []string{s}
			}
		}
	} else {
		pick = models
	}
	var out []*discordgo.ApplicationCommandOptionChoice
	for _, m := range sums {
		if !slices.Contains(pick, m.Model) || len(out) == maxChoices {
			continue
		}
		name := fmt.Sprintf("%s · %d free", m.Model, m.Available)
		if m.OnDemand > 0 {
			name += fmt.Sprintf(" · from $%.3f/GPU/h", m.OnDemand)
		}
		out = append(out, &discordgo.ApplicationCommandOptionChoice{Name: cut(name, 100), Value: m.Model})
	}
	return out
}

// orderChoices are the requester's active orders whose id starts with what
// was typed.
func (b *Bot) orderChoices(ctx context.Context, req commands.Request, typed string) []*discordgo.ApplicationCommandOptionChoice {
	orders, err := b.svc.OrdersOf(ctx, req, 100)
	if err != nil {
		return nil
	}
	typed = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(typed), "#"))
	var out []*discordgo.ApplicationCommandOptionChoice
	for _, o := range orders {
		if o.CloreOrderID == nil || len(out) == maxChoices {
			continue
		}
		id := strconv.FormatInt(*o.CloreOrderID, 10)
		if typed != "" && typed != "0" && !strings.HasPrefix(id, typed) {
			continue
		}
		name := fmt.Sprintf("#%s %s ×%d · %s", id, o.GPUModel, o.GPUCount, o.State)
		out = append(out, &discordgo.ApplicationCommandOptionChoice{Name: cut(name, 100), Value: *o.CloreOrderID})
	}
	return out
}
