package commands

import (
	"fmt"
	"strings"
)

// PlainText renders a reply for a terminal or a log: title, text, fields one
// per line, buttons as hints, and the private part only when withPrivate is
// set (the CLI prints it to the operator who ran the command). Marks are
// shown as plain text (Unmark).
func (r Reply) PlainText(withPrivate bool) string {
	r = r.Unmarked()
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	if r.Title != "" {
		line("%s", r.Title)
	}
	if r.Text != "" {
		prefix := ""
		switch r.Status {
		case StatusError, StatusFailed:
			prefix = "error: "
		case StatusDenied:
			prefix = "denied: "
		}
		line("%s%s", prefix, r.Text)
	}
	for _, f := range r.Fields {
		line("  %s: %s", f.Name, f.Value)
	}
	if r.Usage != "" {
		line("usage: %s", strings.ReplaceAll(r.Usage, "\n", "\n       "))
	}
	for _, btn := range r.Buttons {
		line("  [%s] (%s)", btn.Label, btn.ActionID)
	}
	if withPrivate && r.Private != nil {
		if r.Private.Title != "" {
			line("%s (only you see this)", r.Private.Title)
		}
		if r.Private.Text != "" {
			line("  %s", r.Private.Text)
		}
		for _, f := range r.Private.Fields {
			line("  %s: %s", f.Name, f.Value)
		}
	}
	if r.JobID != "" && !r.Done {
		line("job %s", r.JobID)
	}
	return b.String()
}

// Public is the reply without its private part, for places others see.
func (r Reply) Public() Reply {
	r.Private = nil
	return r
}
