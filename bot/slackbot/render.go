package slackbot

import (
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/clorebot/clorebot/commands"
)

// Slack's limits on block text.
const (
	maxHeader  = 150
	maxSection = 3000
	maxField   = 2000
	maxFields  = 10
	maxButtons = 25
	maxValue   = 2000
)

// Blocks renders the public part of r as Block Kit: a header with the
// title, a section with the text, sections of fields, the usage as a
// context line, the buttons as an actions block, and the job id while the
// job runs. Every text a user could have influenced is escaped, so a reply
// cannot mention @channel or forge a link.
func Blocks(r commands.Reply) []slack.Block {
	var bs []slack.Block
	if r.Title != "" {
		bs = append(bs, slack.NewHeaderBlock(plain(r.Title, maxHeader)))
	}
	if r.Text != "" {
		for _, part := range chunks(statusIcon(r)+escape(r.Text), maxSection) {
			bs = append(bs, slack.NewSectionBlock(mrkdwn(part), nil, nil))
		}
	}
	bs = append(bs, fieldSections(r.Fields)...)
	if r.Usage != "" {
		bs = append(bs, slack.NewContextBlock("usage", mrkdwn(truncate("Usage: `"+escape(r.Usage)+"`", maxSection))))
	}
	if len(r.Buttons) > 0 {
		bs = append(bs, buttons(r.Buttons))
	}
	if r.JobID != "" && !r.Done {
		bs = append(bs, slack.NewContextBlock("job", mrkdwn("job "+escape(r.JobID))))
	}
	return bs
}

// PrivateBlocks renders the requester-only part of a reply.
func PrivateBlocks(p commands.PrivatePart) []slack.Block {
	var bs []slack.Block
	if p.Title != "" {
		bs = append(bs, slack.NewHeaderBlock(plain(p.Title, maxHeader)))
	}
	if p.Text != "" {
		bs = append(bs, slack.NewSectionBlock(mrkdwn(truncate(escape(p.Text), maxSection)), nil, nil))
	}
	bs = append(bs, fieldSections(p.Fields)...)
	return append(bs, slack.NewContextBlock("private", mrkdwn("Only you can see this.")))
}

// FallbackText is the plain text of r that notifications and screen
// readers show beside the blocks.
func FallbackText(r commands.Reply) string {
	s := r.Title
	if r.Text != "" {
		if s != "" {
			s += ": "
		}
		s += r.Text
	}
	if s == "" {
		s = "clorebot"
	}
	return truncate(escape(s), maxSection)
}

// PrivateText is the plain text of a private part.
func PrivateText(p commands.PrivatePart) string {
	s := p.Title
	if s == "" {
		s = "Details for you"
	}
	return escape(s)
}

func fieldSections(fields []commands.Field) []slack.Block {
	var bs []slack.Block
	for len(fields) > 0 {
		n := min(len(fields), maxFields)
		objs := make([]*slack.TextBlockObject, 0, n)
		for _, f := range fields[:n] {
			objs = append(objs, mrkdwn(truncate("*"+escape(f.Name)+"*\n"+escape(f.Value), maxField)))
		}
		bs = append(bs, slack.NewSectionBlock(nil, objs, nil))
		fields = fields[n:]
	}
	return bs
}

func buttons(bs []commands.Button) slack.Block {
	els := make([]slack.BlockElement, 0, min(len(bs), maxButtons))
	for _, b := range bs[:min(len(bs), maxButtons)] {
		value := b.Value
		if value == "" {
			value = b.ActionID
		}
		el := slack.NewButtonBlockElement(b.ActionID, truncate(value, maxValue), plain(b.Label, 75))
		if b.Danger {
			el = el.WithStyle(slack.StyleDanger)
		}
		if b.Confirm != "" {
			el = el.WithConfirm(slack.NewConfirmationBlockObject(plain("Are you sure?", 100),
				plain(b.Confirm, 300), plain(b.Label, 30), plain("Keep it", 30)))
		}
		els = append(els, el)
	}
	return slack.NewActionBlock("actions", els...)
}

func statusIcon(r commands.Reply) string {
	switch r.Status {
	case commands.StatusError, commands.StatusFailed:
		return ":x: "
	case commands.StatusDenied:
		return ":no_entry: "
	case commands.StatusQueued, commands.StatusRunning:
		return ":hourglass_flowing_sand: "
	case commands.StatusConfirm:
		return ":warning: "
	}
	return ""
}

func plain(s string, limit int) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, truncate(s, limit), false, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

// escape makes s inert in Slack's mrkdwn: no mentions, links or channel
// names can be smuggled in through text a user typed.
func escape(s string) string { return mrkdwnEscaper.Replace(s) }

// mrkdwnEscaper is built once: a Replacer builds its tables on first use.
var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// truncate cuts s to at most limit characters, marking the cut.
func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return string(r[:limit-1]) + "…"
}

// chunks splits s into pieces of at most limit characters, at line breaks
// when it can.
func chunks(s string, limit int) []string {
	var out []string
	for utf8.RuneCountInString(s) > limit {
		r := []rune(s)
		cut := limit
		if i := strings.LastIndex(string(r[:limit]), "\n"); i > 0 {
			cut = utf8.RuneCountInString(string(r[:limit])[:i])
		}
		out = append(out, string(r[:cut]))
		s = strings.TrimPrefix(string(r[cut:]), "\n")
	}
	return append(out, s)
}
