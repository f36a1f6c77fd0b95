package slackbot

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// IncomingPayload renders a lifecycle event for a Slack incoming-webhook
// URL (notify.slack_webhook_url): the same words and Block Kit as the
// bot's thread messages, but links and the slash command to type instead of
// buttons, which an incoming webhook cannot carry. skip is true for events
// the bot does not post either (job.completed, order.created). Events hold
// no connection details or passwords, so neither can reach the channel.
func IncomingPayload(ev commands.Event) (payload []byte, skip bool, err error) {
	r, ok := chat.EventReply(ev)
	if !ok {
		return nil, true, nil
	}
	blocks := Blocks(withoutButtons(r))
	if links := linkLine(r.Buttons); links != "" {
		blocks = append(blocks, slack.NewContextBlock("links", mrkdwn(links)))
	}
	b, err := json.Marshal(struct {
		Text   string        `json:"text"`
		Blocks []slack.Block `json:"blocks"`
	}{FallbackText(r), blocks})
	if err != nil {
		return nil, false, fmt.Errorf("slackbot: incoming payload: %w", err)
	}
	return b, false, nil
}

func withoutButtons(r commands.Reply) commands.Reply {
	r.Buttons = nil
	return r
}

// linkLine turns buttons into what a reader can do instead: the slash
// command, and Clore's orders page.
func linkLine(bs []commands.Button) string {
	var parts []string
	for _, c := range chat.TypedCommands(bs) {
		parts = append(parts, fmt.Sprintf("%s: `%s`", escape(c.Label), escape(c.Command)))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(append(parts, "<"+chat.CloreOrdersURL+"|Clore: My Orders>"), " · ")
}
