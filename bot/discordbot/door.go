package discordbot

import (
	"context"
	"fmt"
	"net/http"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// The Discord door's part of the front-door contract (chat.Door): Run,
// Notify (commands.Notifier), Deliver (commands.Sink) and CurrentRoles
// are elsewhere.

// Platform implements chat.Door.
func (b *Bot) Platform() string { return commands.PlatformDiscord }

// signatureHeader carries the Ed25519 signature of HTTP interactions.
const signatureHeader = "X-Signature-Ed25519"

// MountRoutes implements chat.Router: with a public key, POST
// /discord/interactions (DESIGN.md §5); nothing without one.
func (b *Bot) MountRoutes(mount func(pattern string, h http.Handler, signature string)) error {
	h, err := b.Handler()
	if err != nil {
		return fmt.Errorf("discord: %w", err)
	}
	if h != nil {
		mount("POST "+HTTPPath, h, signatureHeader)
	}
	return nil
}

// Checks implements chat.Checker: with a bot token, "discord" is not
// ready until the gateway's READY. With HTTP interactions as well (a
// public key) Discord sends no interaction over the gateway, so a gateway
// that is down only degrades the door: commands are still served.
func (b *Bot) Checks() []chat.Check {
	if b.o.Token == "" {
		return nil
	}
	probe := b.Ready
	if b.o.PublicKey != "" {
		probe = func(ctx context.Context) error {
			if err := b.Ready(ctx); err != nil {
				return fmt.Errorf("%w: %w", chat.ErrDegraded, err)
			}
			return nil
		}
	}
	return []chat.Check{{Name: "discord", Probe: probe}}
}

// RoleSource implements chat.RoleSourcer: the door itself (CurrentRoles)
// with a bot token to ask Discord with; nil without one, and an auto-rent
// of a renter only through Discord roles is then refused.
func (b *Bot) RoleSource() commands.RoleSource {
	if b.o.Token == "" {
		return nil
	}
	return b
}

var (
	_ chat.Door        = (*Bot)(nil)
	_ chat.Router      = (*Bot)(nil)
	_ chat.Checker     = (*Bot)(nil)
	_ chat.RoleSourcer = (*Bot)(nil)
)
