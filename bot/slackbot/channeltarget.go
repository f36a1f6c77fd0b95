package slackbot

// ChannelTarget is the reply target (commands.Target.ReplyTarget) of a new
// message in a channel, for posts that answer no request: the spend
// digest. Notify posts the reply there as the bot.
func ChannelTarget(channel string) string {
	return dest{Channel: channel}.encode()
}
