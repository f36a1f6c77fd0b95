package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os/user"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// execCmd runs one command of the grammar through the command layer.
type execCmd struct {
	As   string   `help:"Identity to act as (default cli:<OS user>), e.g. slack:U123 to try the policy."`
	JSON bool     `help:"Print replies as JSON, one object per line."`
	Text []string `arg:"" passthrough:"" help:"The command, e.g. rent 4090 --max-price 0.5."`
}

// errCommandFailed makes exec exit non-zero after a reply that reports failure.
var errCommandFailed = errors.New("command failed")

// Run handles the command, then runs its job (if any) to the end, printing progress.
func (x execCmd) Run(e *env) error {
	cfg, err := e.load()
	if err != nil {
		return err
	}
	app := NewApp(cfg, newLogger(cfg, e.stderr))
	if err := app.openCore(e.ctx); err != nil {
		return errors.Join(err, app.Close())
	}
	defer app.Close()
	print := func(r commands.Reply) {
		if x.JSON {
			b, _ := json.Marshal(r)
			fmt.Fprintln(e.stdout, string(b))
			return
		}
		fmt.Fprint(e.stdout, r.PlainText(true))
	}
	notifier := commands.NotifierFunc(func(_ context.Context, _ commands.Target, r commands.Reply) (string, error) {
		print(r)
		return "cli", nil
	})
	svc := app.newService(notifier, app.log)
	req := commands.Request{
		Platform: commands.PlatformCLI, User: x.identity(), Channel: "cli",
		Text: strings.Join(x.Text, " "), IdempotencyKey: "cli:" + rand.Text(),
	}
	// A one-shot process has no background refresh: load what the command
	// answers from first (this may wait on the Clore limiter).
	if err := svc.Warm(e.ctx, req); err != nil {
		return err
	}
	reply := svc.Handle(e.ctx, req)
	print(reply)
	if reply.JobID != "" && reply.Status == commands.StatusQueued {
		job, err := svc.RunJob(e.ctx, reply.JobID)
		if errors.Is(err, commands.ErrLeased) {
			// A running `clorebot serve` on the same database took the job.
			fmt.Fprintln(e.stderr, "the job is being run by another clorebot process; following it")
			job, err = follow(e.ctx, svc, reply.JobID)
		}
		if err != nil {
			return err
		}
		if job.State != commands.JobSucceeded {
			return errCommandFailed
		}
		return nil
	}
	return failed(reply)
}

func failed(r commands.Reply) error {
	switch r.Status {
	case commands.StatusError, commands.StatusDenied, commands.StatusFailed:
		return errCommandFailed
	}
	return nil
}

func (x execCmd) identity() string {
	if x.As != "" {
		if strings.Contains(x.As, ":") {
			return x.As
		}
		return commands.PlatformCLI + ":" + x.As
	}
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return commands.PlatformCLI + ":" + name
}

// follow waits until another process has finished the job.
func follow(ctx context.Context, svc *commands.Service, id string) (commands.Job, error) {
	for {
		job, err := svc.Job(ctx, id)
		if err != nil || commands.Terminal(job.State) {
			if job.Error != "" {
				return job, fmt.Errorf("job %s failed: %s", id, job.Error)
			}
			return job, err
		}
		select {
		case <-ctx.Done():
			return job, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
