package main

import (
	"fmt"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/bot/discordbot"
)

// newDiscordDoor builds the Discord front door when discord.bot_token
// (gateway) or discord.public_key (HTTP interactions) is set; nil when
// neither is. Its Run waits up to http.shutdown_timeout for interaction
// work in flight.
func newDiscordDoor(a *App) (chat.Door, error) {
	c := a.cfg.Discord
	if c.BotToken.Reveal() == "" && c.PublicKey == "" {
		return nil, nil
	}
	d := a.chatDeps("discord")
	bot, err := discordbot.New(discordbot.Options{
		Token: c.BotToken.Reveal(), AppID: c.ApplicationID, PublicKey: c.PublicKey,
		GuildIDs: c.GuildIDs, AllowDMs: c.AllowDMs, APIURL: c.APIURL,
		Service: d.Service, Logger: d.Logger, ConnectAfter: d.ConnectAfter, Replays: d.Replays,
		Drain: a.cfg.HTTP.ShutdownTimeout.Duration, Terms: a.discordTerms(),
	})
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	a.discord = bot
	return bot, nil
}

// doctorDiscord runs the Discord door's deployment checks
// (discordbot.Doctor).
func doctorDiscord(d *doctor) {
	c := d.cfg.Discord
	discordbot.Doctor(d.e.ctx, discordbot.DoctorOptions{
		Token: c.BotToken.Reveal(), AppID: c.ApplicationID, PublicKey: c.PublicKey, APIURL: c.APIURL,
		GuildIDs: c.GuildIDs, HTTPClient: d.client, Timeout: d.timeout,
	}, d.finding)
}
