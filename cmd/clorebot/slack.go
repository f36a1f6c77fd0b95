package main

import (
	"context"

	"github.com/clorebot/clorebot/bot/slackbot"
	"github.com/clorebot/clorebot/bot/webhook"
)

// jobRefsFunc adapts a function to chat.JobRefs: the Slack front door is
// built before the Service exists.
type jobRefsFunc func(ctx context.Context, id string) (string, error)

// JobReplyRef calls f.
func (f jobRefsFunc) JobReplyRef(ctx context.Context, id string) (string, error) { return f(ctx, id) }

// slackEnabled reports whether the configuration turns the Slack front door
// on: both tokens (Socket Mode) or the bot token and the signing secret
// (HTTP mode).
func (a *App) slackEnabled() bool {
	s := a.cfg.Slack
	return s.BotToken != "" && (s.AppToken != "" || s.SigningSecret != "")
}

// newSlack builds the Slack front door over the App's command layer (which
// exists by the time a command arrives).
func (a *App) newSlack() *slackbot.Bot {
	s := a.cfg.Slack
	return slackbot.New(slackbot.Options{
		AppToken: s.AppToken.Reveal(), BotToken: s.BotToken.Reveal(), SigningSecret: s.SigningSecret.Reveal(),
		APIURL: s.APIURL, TeamID: s.TeamID,
		Service: chatCommands{a},
		Jobs:    jobRefsFunc(func(ctx context.Context, id string) (string, error) { return a.svc.JobReplyRef(ctx, id) }),
		Logger:  a.log.With("front_door", "slack"), ConnectAfter: a.chatGate,
		Replays: a.store,
	})
}

// mountSlack adds Slack's readiness check and, with a signing secret, the
// HTTP-mode routes.
func (a *App) mountSlack(checks *[]webhook.Check) {
	if a.slack == nil {
		return
	}
	*checks = append(*checks, webhook.Check{Name: "slack", Probe: a.slack.Ready})
}

func (a *App) mountSlackRoutes() {
	if a.slack == nil || a.cfg.Slack.SigningSecret == "" {
		return
	}
	a.http.Handle("POST /slack/commands", a.chatAuth.Wrap(a.slack.CommandsHandler()))
	a.http.Handle("POST /slack/interactivity", a.chatAuth.Wrap(a.slack.InteractivityHandler()))
}
