// Package discordbot is the Discord front door: the /clore application
// command over discordgo's gateway (with a watchdog that replaces a stuck
// session), the same handlers behind HTTP interactions (Ed25519), command
// registration by bulk overwrite, autocomplete, embeds with button
// components, and the notifier that carries a job's progress back to the
// interaction (or, once its token is about to expire, to a channel message
// sent with the bot token). It imports commands and discordgo only.
package discordbot
