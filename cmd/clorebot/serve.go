package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/internal/config"
	"github.com/clorebot/clorebot/internal/metrics"
	"github.com/clorebot/clorebot/storage"
)

type serveCmd struct{}

// Run serves until SIGINT or SIGTERM.
func (serveCmd) Run(e *env) error {
	cfg, err := e.load()
	if err != nil {
		return err
	}
	app := NewApp(cfg, newLogger(cfg, e.stderr))
	if err := app.Open(e.ctx); err != nil {
		return errors.Join(err, app.Close())
	}
	return errors.Join(app.Run(e.ctx), app.Close())
}

// App is a running clorebot: it owns every long-lived part and closes them in
// reverse order of opening.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	metrics *metrics.Metrics

	store       *storage.Store
	stopSandbox func() error
	clore       *clore.Client
	http        *webhook.Server
	addr        net.Addr
}

// NewApp returns an App that has opened nothing yet.
func NewApp(cfg *config.Config, log *slog.Logger) *App {
	return &App{cfg: cfg, log: log, metrics: metrics.New()}
}

// Open opens storage, starts the sandbox when configured, builds the Clore
// client and binds the HTTP listener.
func (a *App) Open(ctx context.Context) error {
	st, err := storage.Open(ctx, a.cfg.Storage.Path)
	if err != nil {
		return err
	}
	a.store = st
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		a.log.Info("database migrated", slog.String("path", a.cfg.Storage.Path), slog.Any("versions", applied))
	}
	if err := a.openClore(ctx); err != nil {
		return err
	}
	h := a.cfg.HTTP
	a.http = webhook.New(webhook.Options{
		Addr:              h.Listen,
		ReadHeaderTimeout: h.ReadHeaderTimeout.Duration,
		ReadTimeout:       h.ReadTimeout.Duration,
		WriteTimeout:      h.WriteTimeout.Duration,
		IdleTimeout:       h.IdleTimeout.Duration,
		Checks:            []webhook.Check{{Name: "storage", Probe: st.Ping}},
		Metrics:           a.metrics.Handler(),
		Logger:            a.log,
	})
	if a.addr, err = a.http.Listen(); err != nil {
		return err
	}
	return nil
}

// openClore builds the one Clore client of the process, pointed at the
// in-process sandbox when clore.sandbox is set. Its limiter keeps its schedule
// in the database, shared with every clorebot process on the same file.
func (a *App) openClore(ctx context.Context) error {
	c := a.cfg.Clore
	base, key := c.APIURL, c.APIKey.Reveal()
	if c.Sandbox {
		sb := a.cfg.Sandbox
		url, stop, err := sandbox.Start(ctx, sandbox.Options{
			StatePath:      a.cfg.SandboxStatePath(),
			APIKey:         sb.APIKey,
			Seed:           int64(sb.Seed),
			Servers:        sb.Servers,
			DriftPerHour:   sb.DriftPerHour,
			ProvisionDelay: sb.ProvisionDelay.Duration,
			RateLimit:      sb.RateLimit,
			MinInterval:    c.MinInterval.Duration,
			CreateInterval: c.CreateInterval.Duration,
		})
		if err != nil {
			return fmt.Errorf("start sandbox: %w", err)
		}
		a.stopSandbox = stop
		base, key = url, sb.APIKey
		a.log.Info("sandbox marketplace started", slog.String("url", url), slog.String("state", a.cfg.SandboxStatePath()))
	}
	a.clore = clore.New(clore.Options{
		BaseURL: base, APIKey: key, UserAgent: c.UserAgent,
		Timeout: c.Timeout.Duration, MaxRetries: c.MaxRetries,
		Interval: c.MinInterval.Duration, CreateInterval: c.CreateInterval.Duration,
		Slots: a.store, Observer: a.metrics, Logger: a.log,
	})
	return nil
}

// Addr is the HTTP listener's address once Open has succeeded.
func (a *App) Addr() net.Addr { return a.addr }

// Run serves until ctx ends, then shuts the listener down gracefully.
func (a *App) Run(ctx context.Context) error {
	a.log.Info("clorebot serving", slog.String("addr", a.addr.String()),
		slog.Bool("sandbox", a.cfg.Clore.Sandbox), slog.String("version", version))
	if a.cfg.Clore.Sandbox {
		a.logMarketplace(ctx)
	}
	errc := make(chan error, 1)
	go func() { errc <- a.http.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.HTTP.ShutdownTimeout.Duration)
	defer cancel()
	err := a.http.Shutdown(sctx)
	return errors.Join(err, <-errc)
}

// logMarketplace shows at start-up that the (simulated) marketplace answers.
func (a *App) logMarketplace(ctx context.Context) {
	ctx, cancel := context.WithTimeout(clore.WithPriority(ctx, clore.Background), 15*time.Second)
	defer cancel()
	servers, err := a.clore.Marketplace(ctx)
	if err != nil {
		a.log.Warn("sandbox marketplace not reachable", slog.Any("error", err))
		return
	}
	models := map[string]bool{}
	for _, o := range clore.Offers(servers) {
		models[o.Model] = true
	}
	a.log.Info("marketplace loaded", slog.Int("servers", len(servers)), slog.Int("gpu_models", len(models)))
}

// Close releases everything Open acquired.
func (a *App) Close() error {
	var errs []error
	if a.stopSandbox != nil {
		errs = append(errs, a.stopSandbox())
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	return errors.Join(errs...)
}
