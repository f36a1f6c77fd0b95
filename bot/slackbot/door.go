package slackbot

import (
	"net/http"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// The Slack door's part of the front-door contract (chat.Door): Run,
// Notify (commands.Notifier) and Deliver (commands.Sink) are elsewhere.

// Platform implements chat.Door.
func (b *Bot) Platform() string { return commands.PlatformSlack }

// MountRoutes implements chat.Router: with a signing secret, HTTP mode's
// slash commands and interactivity (DESIGN.md §5); nothing without one.
func (b *Bot) MountRoutes(mount func(pattern string, h http.Handler, signature string)) error {
	if b.o.SigningSecret == "" {
		return nil
	}
	mount("POST /slack/commands", b.CommandsHandler(), signatureHeader)
	mount("POST /slack/interactivity", b.InteractivityHandler(), signatureHeader)
	return nil
}

// Checks implements chat.Checker: "slack" is ready once the workspace is
// known and, in Socket Mode, the socket is connected (Ready).
func (b *Bot) Checks() []chat.Check {
	return []chat.Check{{Name: "slack", Probe: b.Ready}}
}

var (
	_ chat.Door    = (*Bot)(nil)
	_ chat.Router  = (*Bot)(nil)
	_ chat.Checker = (*Bot)(nil)
)
