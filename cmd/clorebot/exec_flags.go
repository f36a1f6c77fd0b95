package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// takeTrailingFlags moves the flags of exec (--json, --yes, --as,
// --heartbeat, --chart) and of clorebot (--config, --sandbox, -v) that follow the
// command text out of it: `exec market 4090 --json` is `exec --json market
// 4090`. The grammar has no flag of these names, so nothing of the command
// is taken; any other flag stays with the command.
func (x *execCmd) takeTrailingFlags(c *cli) error {
	var text []string
	for i := 0; i < len(x.Text); i++ {
		name, val, hasVal := strings.Cut(x.Text[i], "=")
		value := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(x.Text) {
				return "", fmt.Errorf("exec: %s needs a value", name)
			}
			i++
			return x.Text[i], nil
		}
		boolean := func(dst *bool) error {
			if !hasVal {
				*dst = true
				return nil
			}
			b, err := strconv.ParseBool(val)
			if err != nil {
				return fmt.Errorf("exec: %s: want true or false, got %q", name, val)
			}
			*dst = b
			return nil
		}
		var err error
		switch name {
		case "--json":
			err = boolean(&x.JSON)
		case "--yes":
			err = boolean(&x.Yes)
		case "--sandbox":
			err = boolean(&c.Sandbox)
		case "-v", "--verbose":
			err = boolean(&c.Verbose)
		case "--as":
			x.As, err = value()
		case "--config":
			c.Config, err = value()
		case "--chart":
			x.Chart, err = value()
		case "--heartbeat":
			var v string
			if v, err = value(); err == nil {
				if x.Heartbeat, err = time.ParseDuration(v); err != nil {
					err = fmt.Errorf("exec: --heartbeat: want a duration such as 15s, got %q", v)
				}
			}
		default:
			text = append(text, x.Text[i])
		}
		if err != nil {
			return err
		}
	}
	x.Text = text
	return nil
}

// followUp returns the command line that runs an exec command as this one
// ran: with the --config, --sandbox and --as that made it work, so that a
// printed `cancel`, `status` or `confirm` works when pasted.
func (x execCmd) followUp(e *env) func(args string) string {
	prefix := "exec"
	if x.As != "" {
		prefix += " --as " + shellQuote(x.As)
	}
	return func(args string) string { return e.cliCommand(strings.TrimSuffix(prefix+" "+args, " ")) }
}

// helpTopic reports whether text is `help [topic]`, and its topic.
func helpTopic(text []string) (string, bool) {
	if len(text) == 0 || !strings.EqualFold(text[0], "help") || len(text) > 2 {
		return "", false
	}
	if len(text) == 2 {
		return text[1], true
	}
	return "", true
}

// help prints the help of the grammar with the team's policy (its limits
// and defaults) from the configuration: no Clore API key, database or
// marketplace is needed.
func (x execCmd) help(e *env, topic string) error {
	cfg, err := e.loadWithoutClore()
	if err != nil {
		return err
	}
	r := commands.Reply{Status: commands.StatusOK, Title: "clorebot help", Visibility: commands.Ephemeral, Done: true,
		Text: commands.HelpTextFor(topic, commands.HelpValuesOf(policyFrom(cfg), ""))}
	out := &execOutput{w: e.stdout, json: x.JSON, followUp: x.followUp(e)}
	if out.json {
		out.emit(replyLine("reply", r))
		return nil
	}
	fmt.Fprint(out.w, out.renderText(r))
	return nil
}
