package discordbot

import "time"

// ChannelTarget is the reply target (commands.Target.ReplyTarget) of a new
// message in a channel, for posts that answer no interaction: the spend
// digest. It carries no token, so Notify posts a channel message with the
// bot token; at tells one such message from another (a second post with
// the same channel and at edits the first).
func ChannelTarget(channel string, at time.Time) string {
	return encodeTarget(target{Channel: channel, Created: at, ID: "post"})
}
