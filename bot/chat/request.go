package chat

import (
	"errors"
	"strings"

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

// CommandRequest builds the Request of a typed command, parsed: the parse
// (commands.ParseRequest) travels with it, so that neither the front door's
// acknowledgement (AckAtOnce, BecomesJob) nor the command layer parses the
// text again. key is the platform's id of this very command (Slack
// trigger_id, Discord interaction id): a redelivery carries the same one,
// and the command layer never makes a second job of it. A bare /clore asks
// for help.
func CommandRequest(o Origin, text, key string) commands.Request {
	text = strings.TrimSpace(text)
	if text == "" {
		text = "help"
	}
	return commands.ParseRequest(commands.Request{Platform: o.Platform, User: o.Identity(), UserName: o.UserName,
		Channel: o.Channel, ReplyTarget: o.ReplyTarget, Text: text, IdempotencyKey: idempotencyKey(o.Platform, "cmd", key)})
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

// BecomesJob reports whether req names a command that becomes a job
// (commands.Spec.Job: rent, cancel, confirm, extend), well formed or not:
// such commands are acknowledged before they are handled. It reads the
// parse req carries (CommandRequest); a click is not a command.
func BecomesJob(req commands.Request) bool {
	if req.Action != nil {
		return false
	}
	cmd, err := req.Parsed()
	if ue, ok := errors.AsType[*commands.UsageError](err); ok {
		return commands.BecomesJob(ue.Command)
	}
	return err == nil && commands.BecomesJob(cmd.Name)
}
