package slackbot

import (
	"fmt"
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
// context line, the buttons as an actions block, who asked for a job, and
// the job id while the job runs. Text is rendered by rich: everything but
// clorebot's own marks (mentions, times, commands) is escaped, so a reply
// cannot mention @channel or forge a link whatever a host or user wrote.
func Blocks(r commands.Reply) []slack.Block {
	var bs []slack.Block
	if r.Title != "" {
		bs = append(bs, slack.NewHeaderBlock(plain(commands.Unmark(r.Title), maxHeader)))
	}
	if r.Text != "" {
		for _, part := range chunks(statusIcon(r)+rich(r.Text), maxSection) {
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
	var context []string
	if r.JobID != "" && r.RequestedBy != "" && r.Visibility == commands.Public {
		context = append(context, "Requested by "+rich(commands.Mention(r.RequestedBy)))
	}
	if r.JobID != "" && !r.Done {
		context = append(context, "job "+escape(r.JobID))
	}
	if len(context) > 0 {
		bs = append(bs, slack.NewContextBlock("job", mrkdwn(strings.Join(context, " · "))))
	}
	return bs
}

// rich renders marked text (commands.Spans) as mrkdwn: literal text
// escaped, a Slack user as a mention, a time as Slack's date token (the
// reader's zone, UTC as fallback), a command as the slash command in code.
func rich(s string) string {
	spans := commands.Spans(s)
	if len(spans) == 1 && spans[0].Kind == commands.SpanText {
		return escape(spans[0].Text)
	}
	var b strings.Builder
	for _, sp := range spans {
		switch sp.Kind {
		case commands.SpanMention:
			if id, ok := strings.CutPrefix(sp.Text, commands.PlatformSlack+":"); ok {
				b.WriteString("<@" + id + ">")
			} else {
				b.WriteString(escape(sp.Text))
			}
		case commands.SpanTime:
			fmt.Fprintf(&b, "<!date^%d^{date_short_pretty} {time}|%s>", sp.Time.Unix(), commands.PlainTime(sp.Time))
		case commands.SpanCommand:
			b.WriteString("`/clore " + escape(sp.Text) + "`")
		default:
			b.WriteString(escape(sp.Text))
		}
	}
	return b.String()
}

// PrivateBlocks renders the requester-only part of a reply.
func PrivateBlocks(p commands.PrivatePart) []slack.Block {
	var bs []slack.Block
	if p.Title != "" {
		bs = append(bs, slack.NewHeaderBlock(plain(commands.Unmark(p.Title), maxHeader)))
	}
	if p.Text != "" {
		bs = append(bs, slack.NewSectionBlock(mrkdwn(truncate(rich(p.Text), maxSection)), nil, nil))
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
	return truncate(rich(s), maxSection)
}

// PrivateText is the plain text of a private part.
func PrivateText(p commands.PrivatePart) string {
	s := p.Title
	if s == "" {
		s = "Details for you"
	}
	return rich(s)
}

func fieldSections(fields []commands.Field) []slack.Block {
	var bs []slack.Block
	for len(fields) > 0 {
		n := min(len(fields), maxFields)
		objs := make([]*slack.TextBlockObject, 0, n)
		for _, f := range fields[:n] {
			objs = append(objs, mrkdwn(truncate("*"+escape(commands.Unmark(f.Name))+"*\n"+rich(f.Value), maxField)))
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
		label := commands.Unmark(b.Label)
		el := slack.NewButtonBlockElement(b.ActionID, truncate(value, maxValue), plain(label, 75))
		if b.Danger {
			el = el.WithStyle(slack.StyleDanger)
		}
		if b.Confirm != "" {
			el = el.WithConfirm(slack.NewConfirmationBlockObject(plain("Are you sure?", 100),
				plain(commands.Unmark(b.Confirm), 300), plain(label, 30), plain("Keep it", 30)))
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

// escape makes s inert in Slack's mrkdwn: no mentions, links, dates or
// channel names can be smuggled in through text a user typed or a host
// reported (with verbatim set, bare URLs and @names are not linked either).
// Slack has no escape for *, _, ~ and `: such text may still show as bold
// or code, never as a link or a mention.
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
