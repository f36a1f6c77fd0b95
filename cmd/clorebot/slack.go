package main

import (
	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/bot/slackbot"
)

// newSlackDoor builds the Slack front door when the configuration turns it
// on: both tokens (Socket Mode) or the bot token and the signing secret
// (HTTP mode); nil otherwise.
func newSlackDoor(a *App) (chat.Door, error) {
	s := a.cfg.Slack
	if s.BotToken == "" || (s.AppToken == "" && s.SigningSecret == "") {
		return nil, nil
	}
	d := a.chatDeps("slack")
	a.slack = slackbot.New(slackbot.Options{
		AppToken: s.AppToken.Reveal(), BotToken: s.BotToken.Reveal(), SigningSecret: s.SigningSecret.Reveal(),
		APIURL: s.APIURL, TeamID: s.TeamID,
		Service: d.Service, Jobs: d.Service,
		Logger: d.Logger, ConnectAfter: d.ConnectAfter, Replays: d.Replays,
	})
	return a.slack, nil
}

// doctorSlack runs the Slack door's deployment checks (slackbot.Doctor).
func doctorSlack(d *doctor) {
	s := d.cfg.Slack
	slackbot.Doctor(d.e.ctx, slackbot.DoctorOptions{
		BotToken: s.BotToken.Reveal(), AppToken: s.AppToken.Reveal(), SigningSecret: s.SigningSecret.Reveal(),
		APIURL: s.APIURL, TeamID: s.TeamID, HTTPClient: d.client, Timeout: d.timeout,
	}, d.finding)
}
