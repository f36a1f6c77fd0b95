package discordbot

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/commands"
)

// Discord's limits on messages (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
const (
	maxTitle       = 256
	maxDescription = 4096
	maxFieldName   = 256
	maxFieldValue  = 1024
	maxFields      = 25
	maxButtons     = 25 // 5 rows of 5
	maxCustomID    = 100
	maxLabel       = 80
	maxChoices     = 25
)

// Embed colours by reply status.
const (
	colorOK      = 0x2ecc71
	colorWorking = 0x3498db
	colorConfirm = 0xf1c40f
	colorError   = 0xe74c3c
)

// Custom ids of the confirmation Discord asks for before a cancel, since it
// has no native confirm dialog. The other custom ids are the reply's action
// ids (DESIGN.md §2).
const (
	cancelYes  = "cancel-yes:"
	cancelKeep = "cancel-keep:"
	// valueSep separates a button's value from its action id in a custom id.
	valueSep = "|"
)

// message is a rendered reply: what a Discord message holds.
type message struct {
	// Content holds the mentions of the people a public message is for:
	// mentions in an embed never notify anyone.
	Content    string
	Embeds     []*discordgo.MessageEmbed
	Components []discordgo.MessageComponent
	Ephemeral  bool
	// Users are the ids Content may notify; nobody else is ever pinged.
	Users []string
	// Image is a chart sent as the message's attachment and shown in its
	// embed ("attachment://<name>"): only where a message can carry files
	// (messageSend, webhookEdit, webhookParams), never in a JSON
	// interaction response (respondNow adds it with an edit).
	Image *commands.Image
}

// files is the message's attachment, a new reader per call: a send that
// is retried reads the picture again.
func (m message) files() []*discordgo.File {
	if m.Image == nil {
		return nil
	}
	return []*discordgo.File{{Name: m.Image.Name, ContentType: "image/png", Reader: bytes.NewReader(m.Image.PNG)}}
}

// embedsWithImage is the embeds with the first showing the attachment.
func (m message) embedsWithImage() []*discordgo.MessageEmbed {
	if m.Image == nil || len(m.Embeds) == 0 {
		return m.Embeds
	}
	e := *m.Embeds[0]
	e.Image = &discordgo.MessageEmbedImage{URL: "attachment://" + m.Image.Name}
	return append([]*discordgo.MessageEmbed{&e}, m.Embeds[1:]...)
}

// noMentions keeps every message from pinging anyone, whatever text a user
// typed into a command.
var noMentions = &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}

// allowed is what the message may ping: the users clorebot itself
// mentioned, nobody else (no @everyone, no roles, whatever the text holds).
func (m message) allowed() *discordgo.MessageAllowedMentions {
	if len(m.Users) == 0 {
		return noMentions
	}
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}, Users: m.Users}
}

// renderReply renders the public part of a reply: one embed and its buttons.
// The private part is never in it (see renderPrivate).
func renderReply(r commands.Reply) message {
	e := &discordgo.MessageEmbed{Title: cut(plainText(r.Title), maxTitle), Color: statusColor(r.Status)}
	desc, users := rich(r.Text)
	switch r.Status {
	case commands.StatusError, commands.StatusFailed:
		if e.Title == "" {
			e.Title = "Error"
		}
	case commands.StatusDenied:
		if e.Title == "" {
			e.Title = "Not allowed"
		}
	}
	if r.Usage != "" {
		desc += "\n**Usage**\n```\n" + r.Usage + "\n```"
	}
	e.Description = cut(desc, maxDescription)
	for i, f := range r.Fields {
		if i == maxFields {
			break
		}
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: cut(orDash(plainText(f.Name)), maxFieldName),
			Value: cut(orDash(richText(f.Value)), maxFieldValue), Inline: f.Short})
	}
	if r.JobID != "" {
		e.Footer = &discordgo.MessageEmbedFooter{Text: "job " + r.JobID}
	}
	m := message{Embeds: []*discordgo.MessageEmbed{e}, Components: buttons(r.Buttons),
		Ephemeral: r.Visibility != commands.Public, Image: r.Image}
	if !m.Ephemeral && len(users) > 0 {
		m.Users = slices.Compact(slices.Sorted(slices.Values(users)))
		for i, id := range m.Users {
			if i > 0 {
				m.Content += " "
			}
			m.Content += "<@" + id + ">"
		}
	}
	return m
}

// renderPrivate renders what only the requester may see, as its own
// ephemeral message (or direct message).
func renderPrivate(p *commands.PrivatePart) message {
	e := &discordgo.MessageEmbed{Title: cut(orString(plainText(p.Title), "Only you can see this"), maxTitle),
		Description: cut(richText(p.Text), maxDescription), Color: colorOK}
	for i, f := range p.Fields {
		if i == maxFields {
			break
		}
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: cut(orDash(plainText(f.Name)), maxFieldName),
			Value: cut(orDash(richText(f.Value)), maxFieldValue)})
	}
	return message{Embeds: []*discordgo.MessageEmbed{e}, Ephemeral: true}
}

// renderCancelPrompt is the ephemeral question a Cancel click (interaction
// clickID) gets; Confirm carries the click's id after "|".
func renderCancelPrompt(orderID, clickID string) message {
	e := &discordgo.MessageEmbed{Title: "Cancel order #" + orderID + "?",
		Description: "The server is released and billing stops. This cannot be undone.", Color: colorConfirm}
	yes := cancelYes + orderID
	if clickID != "" && len(yes)+len(valueSep)+len(clickID) <= maxCustomID {
		yes += valueSep + clickID
	}
	row := discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{Label: "Confirm", Style: discordgo.DangerButton, CustomID: yes},
		discordgo.Button{Label: "Keep", Style: discordgo.SecondaryButton, CustomID: cancelKeep + orderID},
	}}
	return message{Embeds: []*discordgo.MessageEmbed{e}, Components: []discordgo.MessageComponent{row}, Ephemeral: true}
}

// renderNotice is a one-line message such as "Kept order 42.".
func renderNotice(status, text string) message {
	return renderReply(commands.Reply{Status: status, Text: text, Visibility: commands.Ephemeral, Done: true})
}

// buttons lays buttons out in rows of five. A button's value, when it has
// one that its action id does not end with, travels in the custom id after
// "|": Discord has no other field for it.
func buttons(bs []commands.Button) []discordgo.MessageComponent {
	var rows []discordgo.MessageComponent
	var row []discordgo.MessageComponent
	for i, b := range bs {
		if i == maxButtons {
			break
		}
		id := b.ActionID
		if b.Value != "" && !strings.HasSuffix(id, ":"+b.Value) {
			id += valueSep + b.Value // confirm:<job id> carries its value already
		}
		if len(id) > maxCustomID {
			continue // an id Discord would refuse: leave the button out rather than the message
		}
		style := discordgo.PrimaryButton
		if b.Danger {
			style = discordgo.DangerButton
		}
		row = append(row, discordgo.Button{Label: cut(commands.Unmark(b.Label), maxLabel), Style: style, CustomID: id})
		if len(row) == 5 {
			rows = append(rows, discordgo.ActionsRow{Components: row})
			row = nil
		}
	}
	if len(row) > 0 {
		rows = append(rows, discordgo.ActionsRow{Components: row})
	}
	return rows
}

// parseCustomID splits a custom id into the action id and the value.
func parseCustomID(id string) commands.Action {
	action, value, _ := strings.Cut(id, valueSep)
	return commands.Action{ID: action, Value: value}
}

func statusColor(status string) int {
	switch status {
	case commands.StatusOK:
		return colorOK
	case commands.StatusQueued, commands.StatusRunning:
		return colorWorking
	case commands.StatusConfirm:
		return colorConfirm
	}
	return colorError
}

// responseData is a rendered message as an interaction callback's data.
func (m message) responseData() *discordgo.InteractionResponseData {
	d := &discordgo.InteractionResponseData{Content: m.Content, Embeds: m.Embeds, Components: m.Components, AllowedMentions: m.allowed()}
	if d.Components == nil {
		d.Components = []discordgo.MessageComponent{}
	}
	if m.Ephemeral {
		d.Flags = discordgo.MessageFlagsEphemeral
	}
	return d
}

// webhookEdit is a rendered message as an edit of an interaction response.
func (m message) webhookEdit() *discordgo.WebhookEdit {
	embeds, comps := m.Embeds, m.Components
	if comps == nil {
		comps = []discordgo.MessageComponent{}
	}
	content := m.Content
	if m.Image != nil {
		embeds = m.embedsWithImage()
	}
	return &discordgo.WebhookEdit{Content: &content, Embeds: &embeds, Components: &comps, AllowedMentions: m.allowed(), Files: m.files()}
}

// webhookParams is a rendered message as a follow-up.
func (m message) webhookParams() *discordgo.WebhookParams {
	p := &discordgo.WebhookParams{Content: m.Content, Embeds: m.embedsWithImage(), Components: m.Components,
		AllowedMentions: m.allowed(), Files: m.files()}
	if p.Components == nil {
		p.Components = []discordgo.MessageComponent{}
	}
	if m.Ephemeral {
		p.Flags = discordgo.MessageFlagsEphemeral
	}
	return p
}

// messageSend is a rendered message as a channel message sent with the bot token.
func (m message) messageSend() *discordgo.MessageSend {
	comps := m.Components
	if comps == nil {
		comps = []discordgo.MessageComponent{}
	}
	return &discordgo.MessageSend{Content: m.Content, Embeds: m.embedsWithImage(), Components: comps, AllowedMentions: m.allowed(),
		Files: m.files()}
}

// messageEdit is a rendered message as an edit of a channel message.
func (m message) messageEdit(channel, id string) *discordgo.MessageEdit {
	embeds, comps := m.Embeds, m.Components
	if comps == nil {
		comps = []discordgo.MessageComponent{}
	}
	content := m.Content
	return &discordgo.MessageEdit{Channel: channel, ID: id, Content: &content, Embeds: &embeds, Components: &comps, AllowedMentions: m.allowed()}
}

// cut shortens s to at most n characters, ending with "…" when it cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func orDash(s string) string { return orString(s, "-") }

func orString(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
