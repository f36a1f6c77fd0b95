package discordbot

import (
	"context"
	"fmt"

	"github.com/bwmarrin/discordgo"
)

// CommandName is the one application command clorebot registers.
const CommandName = "clore"

// Option names of /clore's subcommands.
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
)

func ptr[T any](v T) *T { return &v }

// Command is /clore as it is registered: subcommands rent, cancel, status,
// watch (create, list, cancel), market and help with typed options. Discord
// checks the ranges in its client; the command layer checks them again,
// since an HTTP interaction need not come from Discord's client.
func Command() *discordgo.ApplicationCommand {
	gpu := func(required bool) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: optGPU,
			Description: "GPU model, e.g. RTX 4090, A100 80GB, H100", Required: required, Autocomplete: true, MaxLength: 64}
	}
	count := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionInteger, Name: optCount,
		Description: "GPUs wanted, 1 to 16 (default 1)", MinValue: ptr(1.0), MaxValue: 16}
	order := func(required bool) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionInteger, Name: optOrder,
			Description: "Clore order id", Required: required, Autocomplete: true, MinValue: ptr(1.0)}
	}
	sub := func(name, desc string, opts ...*discordgo.ApplicationCommandOption) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommand, Name: name,
			Description: desc, Options: opts}
	}
	var topics []*discordgo.ApplicationCommandOptionChoice
	for _, t := range []string{"rent", "cancel", "status", "watch", "market", "help"} {
		topics = append(topics, &discordgo.ApplicationCommandOptionChoice{Name: t, Value: t})
	}
	return &discordgo.ApplicationCommand{
		Name: CommandName, Type: discordgo.ChatApplicationCommand,
		Description: "Rent, watch and cancel GPU servers on the Clore.ai marketplace",
		Options: []*discordgo.ApplicationCommandOption{
			sub("rent", "Rent a GPU server",
				gpu(true), count,
				&discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionNumber, Name: optMaxPrice,
					Description: "Highest price in USD per GPU per hour", MinValue: ptr(0.0001), MaxValue: 1000},
				&discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionBoolean, Name: optSpot,
					Description: "Rent at the cheaper, interruptible spot price"},
				&discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: optImage,
					Description: "Docker image (default: the configured image)", MaxLength: 256},
				&discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionNumber, Name: optHours,
					Description: "Cancel automatically after this many hours", MinValue: ptr(0.01), MaxValue: 8760}),
			sub("cancel", "Cancel one of your orders", order(true)),
			sub("status", "Your active orders, or one order", order(false)),
			{Type: discordgo.ApplicationCommandOptionSubCommandGroup, Name: "watch", Description: "Price watches",
				Options: []*discordgo.ApplicationCommandOption{
					sub("create", "Alert (or rent) when a GPU is offered at or below a price",
						gpu(true),
						&discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionNumber, Name: optMaxPrice,
							Description: "Target price in USD per GPU per hour", Required: true, MinValue: ptr(0.0001), MaxValue: 1000},
						&discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionBoolean, Name: optAutoRent,
							Description: "Rent at once when an offer meets the price"},
						count,
						&discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: optFor,
							Description: "Stop watching after this long, e.g. 12h, 3d (at most 90d)", MaxLength: 16}),
					sub("list", "Your active watches"),
					sub("cancel", "Cancel a watch",
						&discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionInteger, Name: optWatch,
							Description: "Watch id", Required: true, MinValue: ptr(1.0)}),
				}},
			sub("market", "Marketplace prices per GPU model", gpu(false)),
			sub("help", "How to use clorebot",
				&discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: optTopic,
					Description: "A command to explain", Choices: topics}),
		},
	}
}

// register overwrites the application's commands with /clore: in each
// configured guild (applies at once), else globally (Discord may take up to
// an hour to show a global change).
func (b *Bot) register(ctx context.Context) error {
	cmds := []*discordgo.ApplicationCommand{Command()}
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
