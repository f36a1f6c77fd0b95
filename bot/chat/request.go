package chat

import (
	"strings"
	"unicode"

	"github.com/clorebot/clorebot/commands"
)

// Origin is where a command or click came from, in platform terms.
type Origin struct {
	Platform string // commands.PlatformSlack, ...
	UserID   string // the platform's user id; the identity is "<platform>:<UserID>"
	UserName string // display name, for replies only
	Channel  string // where it was typed, for the audit log
	// ReplyTarget is the front door's address of the conversation, kept
	// with the job so that its progress and events find their way back.
	ReplyTarget string
}

// Identity is the policy identity of o's user, e.g. "slack:U123".
func (o Origin) Identity() string { return o.Platform + ":" + o.UserID }

// CommandRequest builds the Request of a typed command. key is the
// platform's id of this very command (Slack trigger_id, Discord interaction
// id): a redelivery carries the same one, and the command layer never makes
// a second job of it. A bare /clore asks for help.
func CommandRequest(o Origin, text, key string) commands.Request {
	text = strings.TrimSpace(text)
	if text == "" {
		text = "help"
	}
	return commands.Request{Platform: o.Platform, User: o.Identity(), UserName: o.UserName, Channel: o.Channel,
		ReplyTarget: o.ReplyTarget, Text: text, IdempotencyKey: idempotencyKey(o.Platform, "cmd", key)}
}

// ClickRequest builds the Request of a button click. Its idempotency key is
// the button's action id with message, the platform's id of the message
// that carries the button, so that two clicks on one button — by one user or
// several, one delivery or two — act once.
func ClickRequest(o Origin, actionID, value, message string) commands.Request {
	return commands.Request{Platform: o.Platform, User: o.Identity(), UserName: o.UserName, Channel: o.Channel,
		ReplyTarget: o.ReplyTarget, Action: &commands.Action{ID: actionID, Value: value},
		IdempotencyKey: idempotencyKey(o.Platform, "click", actionID+"@"+message)}
}

func idempotencyKey(platform, kind, key string) string {
	if key == "" {
		return "" // the command layer picks a random one
	}
	return platform + ":" + kind + ":" + key
}

// jobWords are the commands that become jobs: a front door acknowledges
// them at once and shows the job's progress in a message of its own.
var jobWords = [...]string{"rent", "cancel", "confirm", "extend"}

// BecomesJob reports whether text names a command that the command layer
// turns into a job (rent, cancel, confirm, extend), judged from its first
// word only: such commands are acknowledged before they are handled.
func BecomesJob(text string) bool {
	word, rest := firstWord(text)
	if strings.EqualFold(word, "/clore") {
		word, _ = firstWord(rest)
	}
	for _, w := range jobWords {
		if strings.EqualFold(word, w) {
			return true
		}
	}
	return false
}

// firstWord splits the first space-separated word (as strings.Fields
// separates them) from the rest of text, without allocating: every command
// of a burst is asked.
func firstWord(text string) (word, rest string) {
	text = strings.TrimLeftFunc(text, unicode.IsSpace)
	if i := strings.IndexFunc(text, unicode.IsSpace); i >= 0 {
		return text[:i], text[i:]
	}
	return text, ""
}
