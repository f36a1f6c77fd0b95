package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/clorebot/clorebot/storage"
)

// liveServe is a `clorebot serve` running on st's database now, the one
// seen last: its heartbeat (serve_processes) is recent. A serve enforces
// the end of every order clorebot runs (its watch tick); nothing else does.
func liveServe(ctx context.Context, st *storage.Store) (storage.ServeProcess, bool, error) {
	ps, err := st.LiveServes(ctx, time.Now().Add(-serveAlive))
	if err != nil || len(ps) == 0 {
		return storage.ServeProcess{}, false, err
	}
	return ps[0], true, nil
}

// describeServe names a serve process for people: pid and host.
func describeServe(p storage.ServeProcess) string {
	return fmt.Sprintf("pid %d, host %s", p.PID, p.Host)
}

// cliCommand is the exact command line that runs args the way this
// process was run: with its --config and --sandbox.
func (e *env) cliCommand(args string) string {
	parts := []string{"clorebot"}
	if e.cli == nil {
		return strings.Join(append(parts, args), " ")
	}
	if e.cli.Config != "" {
		// Absolute: the command works pasted in any directory.
		path := e.cli.Config
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		parts = append(parts, "--config", shellQuote(path))
	}
	if e.cli.Sandbox {
		parts = append(parts, "--sandbox")
	}
	return strings.Join(append(parts, args), " ")
}

// pastDue says how long ago end was, to the minute (to the second under one).
func pastDue(end, now time.Time) string {
	d := now.Sub(end)
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}
