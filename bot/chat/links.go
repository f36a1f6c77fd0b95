package chat

import (
	"strings"

	"github.com/clorebot/clorebot/commands"
)

// CloreOrdersURL is Clore's "My Orders" page, linked from notifications
// that cannot carry buttons (incoming webhooks).
const CloreOrdersURL = "https://clore.ai/my-orders"

// TypedCommand is a button turned into the slash command a reader types
// instead, where buttons cannot be clicked.
type TypedCommand struct {
	Label   string // the button's label
	Command string // e.g. "/clore cancel 1940007"
}

// TypedCommands are the buttons of bs that have a slash-command equivalent
// (cancel and extend), in order.
func TypedCommands(bs []commands.Button) []TypedCommand {
	var out []TypedCommand
	for _, b := range bs {
		kind, arg, _ := strings.Cut(b.ActionID, ":")
		switch kind {
		case "cancel", "extend":
			out = append(out, TypedCommand{Label: b.Label, Command: "/clore " + kind + " " + arg})
		}
	}
	return out
}
