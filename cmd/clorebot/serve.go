package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/bot/discordbot"
	"github.com/clorebot/clorebot/bot/slackbot"
	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/config"
	"github.com/clorebot/clorebot/internal/httpserver"
	"github.com/clorebot/clorebot/internal/metrics"
	"github.com/clorebot/clorebot/scheduler"
	"github.com/clorebot/clorebot/storage"
)

// The scheduler's task names (scheduler.Table registers them).
const (
	taskWatchTick    = scheduler.TaskWatchTick
	taskDeliveries   = scheduler.TaskDeliveries
	taskOutbox       = scheduler.TaskOutbox
	taskEarlyRefresh = scheduler.TaskEarlyRefresh
)

type serveCmd struct{}

// Run serves until SIGINT or SIGTERM; SIGHUP is logged and ignored.
func (serveCmd) Run(e *env) error {
	cfg, err := e.load()
	if err != nil {
		return err
	}
	if err := checkServeConfig(cfg); err != nil {
		return &usageError{err} // before anything is opened or migrated
	}
	log := e.logger(cfg)
	defer routeStdLog(log)()
	log.Info("clorebot starting", slog.String("config", e.configSource()), slog.String("version", versionLine()))
	defer ignoreHangups(log)()
	app := NewApp(cfg, log)
	if err := app.Open(e.ctx); err != nil {
		return errors.Join(err, app.Close())
	}
	return errors.Join(app.Run(e.ctx), app.Close())
}

// ignoreHangups logs and ignores SIGHUP until the returned func is called:
// a closed terminal or a `kill -HUP` meant as "reload" must not kill serve
// without a shutdown. The configuration is read at start only.
func ignoreHangups(log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				log.Warn("SIGHUP received and ignored: the configuration is read at start; restart clorebot to apply changes")
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// App is a running clorebot: it owns every long-lived part and closes them in
// reverse order of opening.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	metrics *metrics.Metrics

	store       *storage.Store
	stopSandbox func() error
	// sandboxHTTP is the Clore client's HTTP client when it talks to the
	// in-process sandbox: its connections are closed before the sandbox
	// stops.
	sandboxHTTP *http.Client
	clore       *clore.Client
	svc         *commands.Service
	// notifiers and roleSources are the command layer's view of the
	// doors: built empty with it, filled in once the doors exist
	// (openDoors), before anything runs.
	notifiers   chat.Notifiers
	roleSources map[string]commands.RoleSource
	// doors are the front doors configured (frontDoors), in build order.
	doors []chat.Door
	// The doors' concrete types, for what only cmd/clorebot knows of them:
	// the webhook routes' dedup purge and deliveries tick, the digest's
	// channels; nil when the door is off.
	api        *webhook.API
	dispatcher *webhook.Dispatcher
	slack      *slackbot.Bot
	discord    *discordbot.Bot
	http       *httpserver.Server
	// metricsHTTP serves /metrics on http.metrics_listen; nil when /metrics
	// is on http.
	metricsHTTP *httpserver.Server
	outbox      *commands.Outbox
	sched       *scheduler.Scheduler
	// marketLoaded is set by the first successful watch tick (singleton: no lock).
	marketLoaded bool
	addr         net.Addr
	metricsAddr  net.Addr
	// chatGate is closed once the command layer answers every command: the
	// chat sockets connect after it (openChatGate, DESIGN.md §7).
	chatGate chan struct{}
	proc     storage.ServeProcess // this serve in serve_processes
	// chatAuth limits failed authentication on the chat HTTP routes per
	// address (webhook.ip_rate_per_minute), as the webhook routes do.
	chatAuth *webhook.AuthLimit
	// ha is the leader election with PostgreSQL (leader.go); nil with
	// SQLite: the process is alone and always leads.
	ha *leadership
}

// NewApp returns an App that has opened nothing yet.
func NewApp(cfg *config.Config, log *slog.Logger) *App {
	m := metrics.New()
	b := readBuildInfo()
	m.BuildInfo(b.Version, b.commitText(), b.Go)
	return &App{cfg: cfg, log: log, metrics: m, chatGate: make(chan struct{}), proc: newServeProcess(),
		roleSources: map[string]commands.RoleSource{}}
}

// Open builds the process in dependency order: storage, the Clore client
// (with the sandbox when configured), the command layer (with the
// snapshots the last run stored), the front doors over it, then the HTTP
// listener with every door's routes, the outbox with every door's sink,
// and the scheduler; it binds the listener.
func (a *App) Open(ctx context.Context) error {
	if err := a.openCore(ctx); err != nil {
		return err
	}
	if err := a.openLeader(ctx); err != nil { // leader.go
		return err
	}
	a.svc = a.newService(logNotifier{a.log, &a.notifiers}, a.log, func(o *commands.Options) {
		// The early marketplace refreshes run on the scheduler
		// (newScheduler), with every other periodic task.
		o.EarlyRefresh = func() {
			if a.sched != nil {
				a.sched.Kick(taskEarlyRefresh)
			}
		}
		// An auto-rent of a renter only through a platform's roles asks
		// that platform's door for the owner's current roles; a door
		// that cannot (Discord without a bot token) is no source, and
		// such auto-rents are refused.
		o.RoleSources = a.roleSources
	})
	a.loadSnapshots(ctx)
	a.watchState()
	if err := a.openDoors(); err != nil {
		return err
	}
	checks := append([]httpserver.Check{{Name: "storage", Probe: a.store.Ping}}, a.snapshotChecks()...)
	checks = append(checks, a.leaderCheck()...) // leader.go
	a.newServers(append(checks, a.doorChecks()...))
	if err := a.mountDoors(); err != nil {
		return err
	}
	// One outbox, one cursor per sink: webhook subscribers and the chat
	// front doors are peers (DESIGN.md §2 step 5).
	a.outbox = commands.NewOutbox(commands.OutboxOptions{Store: a.store, Sinks: a.doorSinks(), Logger: a.log, Images: a.svc.AlertChart})
	var err error
	if a.sched, err = a.newScheduler(); err != nil {
		return err
	}
	a.metrics.HTTP().Known(a.http.Routes())
	if a.addr, err = a.http.Listen(); err != nil {
		return err
	}
	if a.metricsHTTP != nil {
		if a.metricsAddr, err = a.metricsHTTP.Listen(); err != nil {
			return err
		}
	}
	return nil
}

// newServers builds the HTTP listener on http.listen and, when
// http.metrics_listen is set, a second one that serves /metrics (with
// /healthz and /readyz, for probes on the same port) so that the public
// listener does not.
func (a *App) newServers(checks []httpserver.Check) {
	h := a.cfg.HTTP
	opts := httpserver.Options{
		Addr:              h.Listen,
		ReadHeaderTimeout: h.ReadHeaderTimeout.Duration,
		ReadTimeout:       h.ReadTimeout.Duration,
		WriteTimeout:      h.WriteTimeout.Duration,
		IdleTimeout:       h.IdleTimeout.Duration,
		Checks:            checks,
		Metrics:           a.metrics.Handler(),
		Middleware:        a.metrics.HTTP().Middleware,
		Logger:            a.log,
	}
	if h.MetricsListen == "" {
		a.http = httpserver.New(opts)
		return
	}
	public := opts
	public.Metrics = nil
	a.http = httpserver.New(public)
	// Scrapes are not counted as requests: they would be most of them.
	private := opts
	private.Addr, private.Middleware = h.MetricsListen, nil
	a.metricsHTTP = httpserver.New(private)
}

// servers are the HTTP listeners Run serves.
func (a *App) servers() []*httpserver.Server {
	if a.metricsHTTP != nil {
		return []*httpserver.Server{a.http, a.metricsHTTP}
	}
	return []*httpserver.Server{a.http}
}

// newAPI builds the signed webhook routes of DESIGN.md §5 from the
// configuration, with their dedup records in the database.
func (a *App) newAPI() (*webhook.API, error) {
	w := a.cfg.Webhook
	var keys []webhook.Key
	for _, k := range w.Keys {
		key, err := webhook.ConfiguredKey(k.Name, k.Secret.Reveal())
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	proxies, err := webhook.ParseTrustedProxies(a.cfg.HTTP.TrustedProxies)
	if err != nil {
		return nil, err
	}
	return webhook.NewAPI(webhook.APIOptions{
		Service: a.svc, Keys: keys, LegacySignatures: w.LegacySignatures, PublicMarketplace: w.PublicMarketplace,
		Tolerance: w.Tolerance.Duration, DedupWindow: w.DedupWindow.Duration,
		RatePerMinute: w.RatePerMinute, IPRatePerMinute: w.IPRatePerMinute, TrustedProxies: proxies,
		CallbackAllowPrivate: w.CallbackAllowPrivate,
		Dedup:                a.store, AtomicIntake: true, Replies: a.store, Connections: a.store, Logger: a.log,
	}), nil
}

// checkServeConfig builds what serve derives from the configuration alone
// (webhook keys, trusted proxies, delivery receivers), so that a problem
// config.Validate let through still stops serve with exit 2 before it
// opens anything. config.Validate applies the same rules; this is the
// backstop.
func checkServeConfig(cfg *config.Config) error {
	var errs []error
	for _, k := range cfg.Webhook.Keys {
		if _, err := webhook.ConfiguredKey(k.Name, k.Secret.Reveal()); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := webhook.ParseTrustedProxies(cfg.HTTP.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := deliveryOptions(cfg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// openCore opens what every command needs: storage (migrated) and the Clore
// client, with the sandbox when configured.
func (a *App) openCore(ctx context.Context) error {
	st, err := openStorage(ctx, a.cfg)
	if err != nil {
		return err
	}
	a.store = st
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		a.log.Info("database migrated", slog.String("database", storageName(a.cfg)), slog.Any("versions", applied))
	}
	return a.openClore(ctx)
}

// openClore builds the one Clore client of the process, pointed at the
// in-process sandbox when clore.sandbox is set. Its limiter keeps its schedule
// in the database, shared with every clorebot process on the same file.
func (a *App) openClore(ctx context.Context) error {
	c := a.cfg.Clore
	base, key := c.APIURL, c.APIKey.Reveal()
	var hc *http.Client
	if c.Sandbox && sharedSandboxURL != "" { // tests only: leader.go
		c.Sandbox, base, key = false, sharedSandboxURL, cmp.Or(a.cfg.Sandbox.APIKey, "sandbox")
	}
	if c.Sandbox {
		sb := a.cfg.Sandbox
		// The sandbox is the marketplace the jobs drain against: it must
		// outlive the signal that starts the shutdown, and stops in Close,
		// after them.
		url, stop, err := sandbox.Start(context.WithoutCancel(ctx), sandbox.Options{
			StatePath:      a.cfg.SandboxStatePath(),
			APIKey:         sb.APIKey,
			Seed:           int64(sb.Seed),
			Servers:        sb.Servers,
			DriftPerHour:   sb.DriftPerHour,
			ProvisionDelay: sb.ProvisionDelay.Duration,
			RateLimit:      sb.RateLimit,
			MinInterval:    sandboxLimit(c.MinInterval.Duration, time.Second),
			CreateInterval: sandboxLimit(c.CreateInterval.Duration, 5*time.Second),
		})
		if err != nil {
			return fmt.Errorf("start sandbox: %w", err)
		}
		a.stopSandbox = stop
		base, key = url, sb.APIKey
		hc = &http.Client{Timeout: cmp.Or(c.Timeout.Duration, 30*time.Second), Transport: http.DefaultTransport.(*http.Transport).Clone()}
		a.sandboxHTTP = hc
		a.log.Info("sandbox marketplace started", slog.String("url", url), slog.String("state", a.cfg.SandboxStatePath()))
	}
	a.clore = clore.New(clore.Options{
		BaseURL: base, APIKey: key, UserAgent: c.UserAgent, HTTPClient: hc,
		Timeout: c.Timeout.Duration, MaxRetries: c.MaxRetries,
		Interval: c.MinInterval.Duration, CreateInterval: c.CreateInterval.Duration,
		Slots: a.store, Observer: a.metrics, Logger: a.log, FallbackFees: cloreFallbackFees(c),
	})
	return nil
}

// sandboxLimit is the spacing the sandbox enforces, without tolerance, for a
// client that spaces its calls by configured. At clorebot's defaults (1.1 s,
// 5.5 s) and above it is Clore's own limit (1 s, 5 s): the 10% margin real
// Clore leaves. A sandbox setup that configures less than Clore's floors (tests,
// demos) gets a quarter of its spacing enforced: loopback jitter under load
// reaches tens of milliseconds, which such short spacings cannot absorb.
func sandboxLimit(configured, clore time.Duration) time.Duration {
	if configured*10/11 >= clore {
		return clore
	}
	return configured / 4
}

// Addr is the HTTP listener's address once Open has succeeded.
func (a *App) Addr() net.Addr { return a.addr }

// MetricsAddr is the address of the http.metrics_listen listener once Open
// has succeeded; nil when /metrics is served on Addr.
func (a *App) MetricsAddr() net.Addr { return a.metricsAddr }

// Run serves until ctx ends, then shuts the listener down gracefully.
func (a *App) Run(ctx context.Context) error {
	attrs := []any{slog.String("addr", a.addr.String()), slog.Bool("sandbox", a.cfg.Clore.Sandbox),
		slog.String("version", readBuildInfo().Version)}
	if a.metricsAddr != nil {
		attrs = append(attrs, slog.String("metrics_addr", a.metricsAddr.String()))
	}
	a.log.Info("clorebot serving", attrs...)
	jobCtx, stopJobs := context.WithCancel(ctx)
	waitJobs := a.runDoors(jobCtx, a.openChatGate, a.svc.Run)
	a.sched.Start()
	servers := a.servers()
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s.Serve() }()
	}
	running := len(servers)
	var serveErr error
	select {
	case serveErr = <-errc:
		running--
	case <-ctx.Done():
	}
	// Stop intake, then drain jobs, then stop the scheduler: an interrupted
	// job resumes from its checkpoint at the next start.
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.HTTP.ShutdownTimeout.Duration)
	defer cancel()
	var err error
	for _, s := range servers {
		err = errors.Join(err, s.Shutdown(sctx))
	}
	for ; running > 0; running-- {
		err = errors.Join(err, <-errc)
	}
	stopJobs()
	jobsErr := waitJobs()
	return errors.Join(serveErr, err, jobsErr, a.sched.Stop(), a.stopped())
}

// newScheduler fills in the scheduler package's task table with every
// periodic task of the process and registers it on one
// scheduler; Run starts it and stops it after the job workers.
func (a *App) newScheduler() (*scheduler.Scheduler, error) {
	s, err := scheduler.New(scheduler.Options{Logger: a.log, Elector: a.elector()}) // leader.go
	if err != nil {
		return nil, err
	}
	t := scheduler.Table{
		WatchTick: a.watchTick, WatchInterval: a.cfg.Watch.Interval.Duration,
		FollowerTick: a.followerTick, // leader.go
		Deliveries:   a.dispatcher.Tick,
		Outbox:       a.outbox.Tick,
		DedupPurge:   a.purgeDedup,
		JobSweep:     a.svc.Sweep,
		EarlyRefresh: a.svc.RefreshMarketEarly,
		SnapshotSave: a.svc.SaveSnapshots,
		ServeBeat:    a.beat,
		RequestPurge: a.purgeRequests,
		TargetWipe:   a.svc.WipeReplyTargets,
	}
	a.digestTasks(&t)
	err = t.Register(s)
	if err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// purgeDedup deletes the webhook dedup records older than the dedup window.
func (a *App) purgeDedup(ctx context.Context) error {
	n, err := a.api.PurgeDedup(ctx)
	if n > 0 {
		a.log.LogAttrs(ctx, slog.LevelInfo, "purged webhook dedup records", slog.Int("count", n))
	}
	return err
}

// purgeRequests deletes the request records past their day and the
// replay records of signed chat requests past their window, and compacts
// the price history (downsampled after a day, bounded).
func (a *App) purgeRequests(ctx context.Context) error {
	n, err := a.store.PurgeReplays(ctx, time.Now())
	if n > 0 {
		a.log.LogAttrs(ctx, slog.LevelDebug, "purged chat replay records", slog.Int("count", n))
	}
	return errors.Join(err, a.svc.PurgeRequests(ctx), a.svc.CompactPriceHistory(ctx))
}

// watchTick is the tick of DESIGN.md §7, every watch.interval: one
// marketplace fetch that every request, rent and price watch reads, every
// watch evaluated, one my_orders poll for status and the lifecycle monitor
// (TTL reminders and cancels), the wallet check.
func (a *App) watchTick(ctx context.Context) error {
	// What each half of the tick wrote (watch.triggered; order.expiring,
	// order.expired, ...) goes out at once rather than at the next delivery
	// tick: an alert does not wait for the my_orders call.
	err := errors.Join(scheduler.Recovered(ctx, a.svc.TickMarket), a.deliverNow())
	err = errors.Join(err, scheduler.Recovered(ctx, a.svc.TickOrders), a.deliverNow())
	if r := a.svc.Readiness(); !a.marketLoaded && !r.MarketAt.IsZero() && !r.MarketStored {
		a.marketLoaded = true // a refreshed one, not the one stored before the start
		a.log.Info("marketplace loaded", slog.Bool("sandbox", a.cfg.Clore.Sandbox))
	}
	return err
}

// deliverNow runs the outbox and the webhook deliveries now (or once more
// right after the runs in progress).
func (a *App) deliverNow() error {
	return errors.Join(a.sched.RunNow(taskOutbox), a.sched.RunNow(taskDeliveries))
}

// Close releases everything Open acquired.
func (a *App) Close() error {
	var errs []error
	if a.sched != nil {
		errs = append(errs, a.sched.Stop())
	}
	a.closeLeader() // leader.go: after the leader-only tasks returned
	if a.chatAuth != nil {
		a.chatAuth.Close()
	}
	if a.stopSandbox != nil {
		// A connection the client dialed and never used is, to the
		// sandbox's server, one whose request may still come: its graceful
		// stop would wait 5 s for it, and fail.
		if a.sandboxHTTP != nil {
			a.sandboxHTTP.CloseIdleConnections()
		}
		errs = append(errs, a.stopSandbox())
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	return errors.Join(errs...)
}
