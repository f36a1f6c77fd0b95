package slackbot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/slack-go/slack"

	"github.com/clorebot/clorebot/bot/chat"
)

// DoctorOptions is the Slack configuration `clorebot doctor` checks.
type DoctorOptions struct {
	BotToken, AppToken, SigningSecret string
	APIURL, TeamID                    string
	HTTPClient                        *http.Client
	Timeout                           time.Duration // of each call to Slack
}

// Doctor checks the Slack deployment as configured, one chat.Finding
// (check "slack") each through report: the bot token (auth.test) and its
// workspace against slack.team_id, and Socket Mode with the app token
// (apps.connections.open). It posts nothing.
func Doctor(ctx context.Context, o DoctorOptions, report func(chat.Finding)) {
	add := func(level, found, fix string) {
		report(chat.Finding{Level: level, Check: "slack", Found: found, Fix: fix})
	}
	bot, app := o.BotToken, o.AppToken
	if bot == "" && app == "" {
		if o.SigningSecret != "" {
			add(chat.FindingOK, "HTTP mode only (signing secret set, no tokens): /slack/commands answers, nothing is posted later", "")
		} else {
			add(chat.FindingOK, "not configured", "")
		}
		return
	}
	if bot == "" || app == "" {
		add(chat.FindingWarning, "only one of slack.bot_token and slack.app_token is set: Socket Mode needs both", "set the other token, or neither")
	}
	opts := []slack.Option{slack.OptionAPIURL(o.APIURL), slack.OptionHTTPClient(o.HTTPClient)}
	if bot != "" {
		cctx, cancel := context.WithTimeout(ctx, o.Timeout)
		res, err := slack.New(bot, opts...).AuthTestContext(cctx)
		cancel()
		if err != nil {
			add(chat.FindingFailed, "bot token refused by auth.test: "+slackError(err),
				"install the app again (OAuth & Permissions) and set slack.bot_token to its xoxb- token")
		} else {
			add(chat.FindingOK, fmt.Sprintf("bot token accepted: %s in team %s", res.User, res.Team), "")
			if o.TeamID != "" && o.TeamID != res.TeamID {
				add(chat.FindingWarning, fmt.Sprintf("slack.team_id %s is not the bot token's workspace %s: requests from %s are refused",
					o.TeamID, res.TeamID, res.TeamID), "set slack.team_id to "+res.TeamID+", or leave it empty to serve the bot token's workspace")
			}
		}
	}
	if bot != "" && app != "" {
		cctx, cancel := context.WithTimeout(ctx, o.Timeout)
		_, _, err := slack.New(bot, append(opts, slack.OptionAppLevelToken(app))...).StartSocketModeContext(cctx)
		cancel()
		if err != nil {
			add(chat.FindingFailed, "Socket Mode not possible with the app token (apps.connections.open): "+slackError(err),
				"enable Socket Mode and create an app-level token with connections:write; set slack.app_token")
		} else {
			add(chat.FindingOK, "app token accepted: Socket Mode possible", "")
		}
	}
}

// slackError is Slack's error code without anything that could be a token.
func slackError(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return chat.TransportError(err)
}
