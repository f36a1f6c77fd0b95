package discordbot

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/commands"
)

// Guild binding (DESIGN.md §4): with discord.guild_ids set, interactions
// from any other guild are refused; interactions from direct messages are
// refused unless discord.allow_dms. Both over the gateway and HTTP
// interactions, before anything reaches the command layer; the refusal is
// ephemeral and says where clorebot is served. Autocomplete from there
// offers nothing.

// outside returns the refusal of an interaction from a guild or DM that is
// not served, or nil.
func (b *Bot) outside(i *discordgo.Interaction) *commands.Reply {
	where := ""
	switch {
	case i.GuildID == "" && !b.o.AllowDMs:
		where = "direct messages"
	case i.GuildID != "" && len(b.o.GuildIDs) > 0 && !slices.Contains(b.o.GuildIDs, i.GuildID):
		where = "this server"
	default:
		return nil
	}
	served := "in the Discord servers where it is installed"
	switch len(b.o.GuildIDs) {
	case 0:
	case 1:
		served = "only in the Discord server " + b.o.GuildIDs[0]
	default:
		served = "only in the Discord servers " + strings.Join(b.o.GuildIDs, ", ")
	}
	return &commands.Reply{Status: commands.StatusDenied, Visibility: commands.Ephemeral, Done: true,
		Text: "clorebot does not take commands in " + where + ": it serves " + served + ". Nothing was done."}
}

// refuseOutside answers an interaction from outside the served guilds:
// an ephemeral refusal, or no choices for autocomplete.
func (b *Bot) refuseOutside(ctx context.Context, i *discordgo.Interaction, respond responder, r commands.Reply) {
	b.log.LogAttrs(ctx, slog.LevelInfo, "discord interaction from outside the served guilds refused",
		slog.String("interaction_id", i.ID), slog.String("guild_id", i.GuildID))
	if i.Type == discordgo.InteractionApplicationCommandAutocomplete {
		err := respond(ctx, &discordgo.InteractionResponse{Type: discordgo.InteractionApplicationCommandAutocompleteResult,
			Data: &discordgo.InteractionResponseData{Choices: []*discordgo.ApplicationCommandOptionChoice{}}})
		b.report(ctx, i, "autocomplete", err)
		return
	}
	b.respondNow(ctx, i, respond, r, false)
}
