package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/clorebot/clorebot/bot/discordbot"
	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/commands"
)

// newDiscord builds the Discord front door when discord.bot_token (gateway)
// or discord.public_key (HTTP interactions) is set; nil when neither is.
func (a *App) newDiscord() (*discordbot.Bot, error) {
	d := a.cfg.Discord
	if d.BotToken.Reveal() == "" && d.PublicKey == "" {
		return nil, nil
	}
	bot, err := discordbot.New(discordbot.Options{
		Token: d.BotToken.Reveal(), AppID: d.ApplicationID, PublicKey: d.PublicKey,
		GuildIDs: d.GuildIDs, AllowDMs: d.AllowDMs, APIURL: d.APIURL, Service: chatCommands{a}, Logger: a.log.With("front_door", "discord"),
		ConnectAfter: a.chatGate, Replays: a.store, Terms: a.discordTerms(),
	})
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	return bot, nil
}

// discordChecks adds the gateway's readiness check (with a bot token):
// /readyz is not ready until READY. With HTTP interactions (a public key)
// Discord sends no interaction over the gateway, so a gateway that is down
// only degrades the door (200, "degraded"): commands are still served.
func (a *App) discordChecks(checks []webhook.Check) []webhook.Check {
	if a.discord == nil || a.cfg.Discord.BotToken.Reveal() == "" {
		return checks
	}
	probe := a.discord.Ready
	if a.cfg.Discord.PublicKey != "" {
		probe = func(ctx context.Context) error {
			if err := a.discord.Ready(ctx); err != nil {
				return fmt.Errorf("%w: %w", webhook.ErrDegraded, err)
			}
			return nil
		}
	}
	return append(checks, webhook.Check{Name: "discord", Probe: probe})
}

// discordHandler mounts POST /discord/interactions when a public key is set.
func (a *App) discordHandler() error {
	if a.discord == nil {
		return nil
	}
	h, err := a.discord.Handler()
	if err != nil {
		return fmt.Errorf("discord: %w", err)
	}
	if h != nil {
		a.http.Handle("POST "+discordbot.HTTPPath, a.chatAuth.Wrap(h))
	}
	return nil
}

// runDiscord keeps the gateway session until ctx ends (nothing without a
// Discord front door), then waits for interaction work in flight.
func (a *App) runDiscord(ctx context.Context) error {
	if a.discord == nil {
		return nil
	}
	err := a.discord.Run(ctx)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.HTTP.ShutdownTimeout.Duration)
	defer cancel()
	_ = a.discord.Wait(wctx)
	return err
}

// discordNotifier carries job progress to Discord once the front door
// exists (the command layer is built before it).
type discordNotifier struct{ a *App }

// Notify implements commands.Notifier.
func (n discordNotifier) Notify(ctx context.Context, t commands.Target, r commands.Reply) (string, error) {
	if n.a.discord == nil {
		return "", nil
	}
	return n.a.discord.Notify(ctx, t, r)
}

// discordRoles asks the Discord front door, once it exists (the command
// layer is built before it), for a member's current roles.
type discordRoles struct{ a *App }

// CurrentRoles implements commands.RoleSource.
func (r discordRoles) CurrentRoles(ctx context.Context, user, where string) ([]string, error) {
	if r.a.discord == nil {
		return nil, errors.New("discord: no Discord front door")
	}
	return r.a.discord.CurrentRoles(ctx, user, where)
}
