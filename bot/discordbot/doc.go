// Package discordbot is the Discord front door: the /clore application
// command over discordgo's gateway (with a watchdog that replaces a stuck
// session) and the same handlers behind HTTP interactions (Ed25519, PING
// answered PONG); /clore's registration by bulk overwrite, written from
// the command grammar (commands.Grammar), with autocomplete of GPU models
// and orders; the guild and DM gate of discord.guild_ids and
// discord.allow_dms; replies as embeds with button components (Cancel asks
// for a second click, since Discord has no confirmation dialog); the
// notifier that carries a job's progress back to the interaction (or, once
// its token is about to expire, to a channel message sent with the bot
// token); the outbox sink that posts lifecycle events of orders and
// watches started from Discord to their channel; the role source that asks
// Discord for a member's current roles (commands.RoleSource); and the
// payload of a Discord incoming-webhook URL. It imports commands, bot/chat
// (the code every chat front door shares) and discordgo, and no other
// front door.
package discordbot
