package discordbot

import (
	"strconv"
	"strings"

	"github.com/clorebot/clorebot/commands"
)

// escapeMarkdown makes s literal in Discord markdown: every character that
// opens formatting, a masked link ([text](url)), a mention, a channel, an
// emoji or a timestamp (<…>) is backslash-escaped, and so are the line
// starts of headings, lists and quotes, and the "://" that autolinks a URL.
// Discord shows the text as written, minus the backslashes. (@everyone and
// @here in text ping nobody: messages allow no mentions but clorebot's own.)
func escapeMarkdown(s string) string {
	if s == "" {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	lineStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			b.WriteByte(c)
			lineStart = true
			continue
		case lineStart && (c == ' ' || c == '\t'):
			b.WriteByte(c)
			continue
		}
		next := byte(0)
		if i+1 < len(s) {
			next = s[i+1]
		}
		switch c {
		case '\\', '*', '_', '~', '`', '|', '<', '>', '[', ']':
			b.WriteByte('\\')
		case '#', '-', '+':
			// "# h", "## h", "-# small", "- item", "+ item" at a line's start.
			if lineStart && (next == ' ' || next == '#') {
				b.WriteByte('\\')
			}
		case ':':
			if strings.HasPrefix(s[i:], "://") {
				b.WriteString(":\\/\\/")
				i += 2
				lineStart = false
				continue
			}
		default:
			if lineStart && c >= '0' && c <= '9' {
				// "1. item" is an ordered list: escape the dot after the digits.
				j := i
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
				if j < len(s) && s[j] == '.' {
					b.WriteString(s[i:j])
					b.WriteString("\\.")
					i = j
					lineStart = false
					continue
				}
			}
		}
		b.WriteByte(c)
		lineStart = false
	}
	return b.String()
}

// rich renders marked text (commands.Spans) as Discord markdown: literal
// text escaped, a Discord user as a mention, a time as Discord's timestamp
// (the reader's zone, or relative), a command as the slash command in
// code. It returns the ids of the users it mentions.
func rich(s string) (string, []string) {
	spans := commands.Spans(s)
	if len(spans) == 1 && spans[0].Kind == commands.SpanText {
		return escapeMarkdown(spans[0].Text), nil
	}
	var b strings.Builder
	var users []string
	for _, sp := range spans {
		switch sp.Kind {
		case commands.SpanMention:
			if id, ok := strings.CutPrefix(sp.Text, userPrefix); ok && isSnowflakeID(id) {
				b.WriteString("<@" + id + ">")
				users = append(users, id)
			} else {
				b.WriteString(escapeMarkdown(sp.Text))
			}
		case commands.SpanTime:
			b.WriteString("<t:" + strconv.FormatInt(sp.Time.Unix(), 10) + ":" + string(sp.Style) + ">")
		case commands.SpanCommand:
			b.WriteString("`/" + CommandName + " " + sp.Text + "`")
		default:
			b.WriteString(escapeMarkdown(sp.Text))
		}
	}
	return b.String(), users
}

// richText is rich without the mentioned users.
func richText(s string) string {
	out, _ := rich(s)
	return out
}

// plainText renders marked text where Discord shows no markdown mentions
// or timestamps (embed titles, field names): plain, escaped.
func plainText(s string) string { return escapeMarkdown(commands.Unmark(s)) }

// isSnowflakeID accepts a Discord id: digits only (tests use short ones).
func isSnowflakeID(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
