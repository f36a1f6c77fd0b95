package discordbot

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// incomingMessage is the body of an execute-webhook request.
type incomingMessage struct {
	Content         string                            `json:"content"`
	Embeds          []*discordgo.MessageEmbed         `json:"embeds"`
	AllowedMentions *discordgo.MessageAllowedMentions `json:"allowed_mentions"`
}

// IncomingPayload renders a lifecycle event for a Discord webhook URL
// (notify.discord_webhook_url): content is the event's line, embeds are
// what the bot posts (the same renderer), with the slash commands and a
// link to Clore's orders page in place of buttons, which a webhook not
// owned by an application cannot carry. Mentions are disabled. skip is true
// for events the bot does not post either. Events hold no connection
// details or passwords, so neither can reach the channel.
func IncomingPayload(ev commands.Event) (payload []byte, skip bool, err error) {
	r, ok := chat.EventReply(ev)
	if !ok {
		return nil, true, nil
	}
	links := linkLine(r.Buttons)
	r.Buttons = nil
	m := renderReply(r)
	if links != "" && len(m.Embeds) > 0 {
		m.Embeds[0].Fields = append(m.Embeds[0].Fields, &discordgo.MessageEmbedField{Name: "What to do", Value: cut(links, maxFieldValue)})
	}
	content := richText(r.Text)
	if r.Title != "" {
		content = plainText(r.Title) + ": " + content
	}
	b, err := json.Marshal(incomingMessage{Content: cut(content, 2000), Embeds: m.Embeds, AllowedMentions: noMentions})
	if err != nil {
		return nil, false, fmt.Errorf("discordbot: incoming payload: %w", err)
	}
	return b, false, nil
}

// linkLine turns buttons into the slash commands to type and Clore's
// orders page.
func linkLine(bs []commands.Button) string {
	var parts []string
	for _, c := range chat.TypedCommands(bs) {
		parts = append(parts, fmt.Sprintf("%s: `%s`", c.Label, c.Command))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(append(parts, "[Clore: My Orders]("+chat.CloreOrdersURL+")"), " · ")
}
