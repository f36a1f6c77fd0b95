package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/clorebot/clorebot/internal/httpserver"
	"github.com/clorebot/clorebot/scheduler"
	"github.com/clorebot/clorebot/storage"
)

// serveBeat is how often a running serve renews its row in
// serve_processes; a row older than serveAlive is a crashed process's.
const (
	serveBeat  = scheduler.ServeBeat
	serveAlive = 3 * serveBeat
)

// staleTicks is how many watch intervals a snapshot may age before
// /readyz calls it degraded although no refresh failed (a tick that no
// longer runs, a limiter kept busy).
const staleTicks = 3

// loadSnapshots publishes the snapshots the last run stored, before any
// request is served: a restart is ready at once while the first refresh
// loads. Without them /readyz waits for that refresh.
func (a *App) loadSnapshots(ctx context.Context) {
	if err := a.svc.LoadSnapshots(ctx); err != nil {
		a.log.LogAttrs(ctx, slog.LevelWarn, "stored snapshots not loaded; waiting for the first refresh", slog.Any("error", err))
	}
}

// snapshotChecks are /readyz's checks of what requests answer from: each
// snapshot failing until it exists (refreshed, or loaded from the store),
// degraded while its refresh fails or it is staleTicks intervals old.
func (a *App) snapshotChecks() []httpserver.Check {
	probe := func(what string, get func() (time.Time, error)) func(context.Context) error {
		return func(context.Context) error {
			at, err := get()
			age := time.Since(at).Round(time.Second)
			switch {
			case at.IsZero() && err != nil:
				return fmt.Errorf("no %s snapshot yet: %w", what, err)
			case at.IsZero():
				return fmt.Errorf("no %s snapshot yet: the first refresh is loading", what)
			case err != nil:
				return fmt.Errorf("%w: %s refresh failing, answering from a snapshot %s old: %w", httpserver.ErrDegraded, what, age, err)
			case age > staleTicks*a.cfg.Watch.Interval.Duration:
				return fmt.Errorf("%w: %s snapshot %s old", httpserver.ErrDegraded, what, age)
			}
			return nil
		}
	}
	return []httpserver.Check{
		{Name: "marketplace", Probe: probe("marketplace", func() (time.Time, error) {
			r := a.svc.Readiness()
			return r.MarketAt, r.MarketErr
		})},
		{Name: "orders", Probe: probe("my_orders", func() (time.Time, error) {
			r := a.svc.Readiness()
			return r.OrdersAt, r.OrdersErr
		})},
	}
}

// openChatGate lets the chat sockets connect (Slack Socket Mode, the
// Discord gateway: Options.ConnectAfter) once the command layer answers
// every command, and says so in the log; it returns then or when ctx ends.
func (a *App) openChatGate(ctx context.Context) error {
	select {
	case <-a.svc.Ready():
	case <-ctx.Done():
		return nil
	}
	close(a.chatGate)
	r := a.svc.Readiness()
	a.log.LogAttrs(ctx, slog.LevelInfo, "clorebot ready", slog.Bool("stored_snapshot", r.MarketStored),
		slog.Duration("marketplace_age", time.Since(r.MarketAt).Round(time.Second)))
	return nil
}

// newServeProcess is this serve as serve_processes records it.
func newServeProcess() storage.ServeProcess {
	host, _ := os.Hostname()
	return storage.ServeProcess{ID: "serve-" + strings.ToLower(rand.Text()[:10]), PID: os.Getpid(), Host: host, StartedAt: time.Now()}
}

// beat renews this serve's row: `clorebot exec` and `clorebot doctor` tell
// from it that a running serve enforces the end of every order.
func (a *App) beat(ctx context.Context) error {
	p := a.proc
	p.SeenAt = time.Now()
	return a.store.BeatServe(ctx, p)
}

// stopped runs last in Run, once the scheduler has stopped: the snapshots
// published since the last save are stored, and this serve's row goes.
func (a *App) stopped() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(a.svc.SaveSnapshots(ctx), a.store.EndServe(ctx, a.proc.ID))
}
