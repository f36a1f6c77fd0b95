package commands

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Reply text is plain text with, for chat platforms, a few marks of
// clorebot's own that each front door renders in its platform's language:
// a mention of a person (Slack <@U123>, Discord <@333>), a point in time
// (Slack <!date^…>, Discord <t:…>) and a command to type (`/clore status 5`).
// Everything else in a text is literal, whoever wrote it, and front doors
// escape it: a host's GPU name, a Clore error text or what a user typed can
// never become a link, a mention or formatting.
//
// A mark is MarkOpen, a kind, a value and MarkClose. The two delimiters are
// C1 control characters that no text from outside can bring in: the
// command parser refuses control characters, and clore drops them from the
// names hosts report. Replies to webhooks and the command line carry no
// marks (the command layer writes plain text for them); Unmark turns marked
// text into plain text where one is needed anyway (audit rows).

// Delimiters of a mark.
const (
	MarkOpen  = '\u0091'
	MarkClose = '\u0092'
)

// Kinds of marks.
const (
	markMention = '@'
	markTime    = 't'
	markCommand = '/'
)

// Mention marks a person by identity ("slack:U123"): chat front doors show
// a mention of them on their own platform, their identity elsewhere.
func Mention(identity string) string {
	return string(MarkOpen) + string(markMention) + identity + string(MarkClose)
}

// TimeStyle says how a marked time reads.
type TimeStyle byte

// Time styles.
const (
	TimeFull     TimeStyle = 'f' // date and time, in the reader's zone
	TimeRelative TimeStyle = 'R' // "in 3 hours", "5 minutes ago"
)

// Time marks a point in time: chat front doors show it in the reader's
// time zone (or relative to now); plain text shows it in UTC.
func Time(t time.Time, style TimeStyle) string {
	return string(MarkOpen) + string(markTime) + strconv.FormatInt(t.Unix(), 10) + ":" + string(style) + string(MarkClose)
}

// CommandHint marks a command a user may type, e.g. "status 5": chat front
// doors show it as the platform's slash command (`/clore status 5`).
func CommandHint(text string) string {
	return string(MarkOpen) + string(markCommand) + text + string(MarkClose)
}

// SpanKind is what a Span of marked text is.
type SpanKind int

// Span kinds.
const (
	SpanText    SpanKind = iota // literal text: escape it
	SpanMention                 // Text is an identity ("slack:U123")
	SpanTime                    // Time and Style
	SpanCommand                 // Text is a command ("status 5")
)

// Span is one piece of marked text.
type Span struct {
	Kind  SpanKind
	Text  string
	Time  time.Time
	Style TimeStyle
}

// Marks for rendering: a mark whose value does not read well is shown as
// the literal text of its value.
var (
	reIdentity = regexp.MustCompile(`^[a-z][a-z-]{0,15}:[A-Za-z0-9._-]{1,64}$`)
	reCommand  = regexp.MustCompile(`^[a-z][A-Za-z0-9 #._:<>\[\]|=$/-]{0,199}$`)
)

// Spans splits marked text into literal text and marks, in order. Stray
// delimiters are dropped; a malformed mark becomes literal text.
func Spans(s string) []Span {
	if !strings.ContainsRune(s, MarkOpen) && !strings.ContainsRune(s, MarkClose) {
		return []Span{{Kind: SpanText, Text: s}}
	}
	var out []Span
	text := func(t string) {
		if strings.ContainsRune(t, MarkOpen) || strings.ContainsRune(t, MarkClose) {
			t = strings.Map(func(r rune) rune {
				if r == MarkOpen || r == MarkClose {
					return -1
				}
				return r
			}, t)
		}
		if t == "" {
			return
		}
		if n := len(out); n > 0 && out[n-1].Kind == SpanText {
			out[n-1].Text += t
			return
		}
		out = append(out, Span{Kind: SpanText, Text: t})
	}
	for s != "" {
		i := strings.IndexRune(s, MarkOpen)
		if i < 0 {
			text(s)
			break
		}
		text(s[:i])
		s = s[i+len(string(MarkOpen)):]
		j := strings.IndexRune(s, MarkClose)
		if j < 0 {
			text(s)
			break
		}
		body := s[:j]
		s = s[j+len(string(MarkClose)):]
		if sp, ok := parseMark(body); ok {
			out = append(out, sp)
		} else if len(body) > 1 {
			text(body[1:])
		}
	}
	return out
}

// parseMark reads the inside of a mark.
func parseMark(body string) (Span, bool) {
	if body == "" {
		return Span{}, false
	}
	kind, v := body[0], body[1:]
	switch kind {
	case markMention:
		return Span{Kind: SpanMention, Text: v}, reIdentity.MatchString(v)
	case markCommand:
		return Span{Kind: SpanCommand, Text: v}, reCommand.MatchString(v)
	case markTime:
		secs, style, ok := strings.Cut(v, ":")
		n, err := strconv.ParseInt(secs, 10, 64)
		if !ok || err != nil || n < 0 || n > 1<<40 || (style != string(TimeFull) && style != string(TimeRelative)) {
			return Span{}, false
		}
		return Span{Kind: SpanTime, Time: time.Unix(n, 0).UTC(), Style: TimeStyle(style[0])}, true
	}
	return Span{}, false
}

// PlainTime is how plain text shows a time: "2026-01-01 16:00 UTC".
func PlainTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

// Unmark returns marked text as plain text: identities, UTC times and
// commands in backquotes.
func Unmark(s string) string {
	if !strings.ContainsRune(s, MarkOpen) && !strings.ContainsRune(s, MarkClose) {
		return s
	}
	var b strings.Builder
	for _, sp := range Spans(s) {
		switch sp.Kind {
		case SpanMention:
			b.WriteString(sp.Text)
		case SpanTime:
			b.WriteString(PlainTime(sp.Time))
		case SpanCommand:
			b.WriteString("`" + sp.Text + "`")
		default:
			b.WriteString(sp.Text)
		}
	}
	return b.String()
}

// Unmarked is r with every text in plain form (Unmark).
func (r Reply) Unmarked() Reply {
	r.Title, r.Text = Unmark(r.Title), Unmark(r.Text)
	r.Fields = unmarkFields(r.Fields)
	if r.Private != nil {
		p := *r.Private
		p.Title, p.Text, p.Fields = Unmark(p.Title), Unmark(p.Text), unmarkFields(p.Fields)
		r.Private = &p
	}
	if len(r.Buttons) > 0 {
		bs := make([]Button, len(r.Buttons))
		for i, b := range r.Buttons {
			b.Label, b.Confirm = Unmark(b.Label), Unmark(b.Confirm)
			bs[i] = b
		}
		r.Buttons = bs
	}
	return r
}

func unmarkFields(fs []Field) []Field {
	if len(fs) == 0 {
		return fs
	}
	out := make([]Field, len(fs))
	for i, f := range fs {
		out[i] = Field{Name: Unmark(f.Name), Value: Unmark(f.Value), Short: f.Short}
	}
	return out
}

// chatPlatform reports whether replies to platform carry marks.
func chatPlatform(platform string) bool {
	return platform == PlatformSlack || platform == PlatformDiscord
}

// mentionOn is who as a reply to platform names them: a mention on chat,
// the identity elsewhere.
func mentionOn(platform, who string) string {
	if chatPlatform(platform) {
		return Mention(who)
	}
	return who
}

// timeOn is t as a reply to platform shows it.
func timeOn(platform string, t time.Time, style TimeStyle) string {
	if chatPlatform(platform) {
		return Time(t, style)
	}
	return PlainTime(t)
}

// commandOn is a command to type as a reply to platform shows it: a mark on
// chat, the plain command elsewhere.
func commandOn(platform, text string) string {
	if chatPlatform(platform) {
		return CommandHint(text)
	}
	return text
}

// auditDetail is the start of a reply's text for an audit row, plain:
// only the first few hundred bytes are read (a row keeps 200), so that a
// long answer (help) costs nothing to audit.
func auditDetail(text string) string {
	if len(text) > auditDetailRead {
		text = text[:auditDetailRead]
	}
	return Unmark(text)
}

// auditDetailRead is how much of a reply's text auditDetail reads: twice
// what a row keeps, for the marks that Unmark shortens.
const auditDetailRead = 2 * auditDetailMax
