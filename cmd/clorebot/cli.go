package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/clorebot/clorebot/internal/config"
	"github.com/clorebot/clorebot/storage"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2 // bad command line or bad configuration: nothing was started
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// cli is the command line (DESIGN.md §6).
type cli struct {
	Config  string `help:"Configuration file (default clorebot.toml; optional unless named)." env:"CLOREBOT_CONFIG" placeholder:"FILE"`
	Sandbox bool   `help:"Use the built-in simulated Clore marketplace: no API key needed."`

	Serve      serveCmd       `cmd:"" help:"Run every configured front door, the scheduler and the HTTP listener."`
	Exec       execCmd        `cmd:"" help:"Run one command (rent, cancel, status, watch, market, help) and print the reply."`
	Webhook    webhookCmds    `cmd:"" help:"Helpers for inbound webhook callers."`
	Deliveries deliveriesCmds `cmd:"" help:"Outbound webhook deliveries and the dead-letter queue."`
	ConfigCmds configCmds     `cmd:"" name:"config" help:"Inspect the configuration."`
	Audit      auditCmd       `cmd:"" help:"Print the audit log of commands and buttons."`
	Migrate    migrateCmd     `cmd:"" help:"Apply pending database migrations."`
	Version    versionCmd     `cmd:"" help:"Print the version."`

	Healthcheck healthcheckCmd `cmd:"" help:"Probe the HTTP listener's liveness (for container HEALTHCHECKs)."`
}

type configCmds struct {
	Check configCheckCmd `cmd:"" help:"Validate the configuration and print it with secrets redacted."`
}

// env is what every command's Run receives.
type env struct {
	ctx     context.Context
	cli     *cli
	environ []string
	stdout  io.Writer
	stderr  io.Writer
}

// load reads and validates the configuration; its errors exit with status 2.
func (e *env) load() (*config.Config, error) { return e.loadFor(false) }

// loadWithoutClore is load for commands that never call Clore: they run
// where no Clore API key is configured.
func (e *env) loadWithoutClore() (*config.Config, error) { return e.loadFor(true) }

func (e *env) loadFor(withoutClore bool) (*config.Config, error) {
	cfg, err := config.Load(config.LoadOptions{
		Path:         e.cli.Config,
		PathExplicit: e.cli.Config != "",
		Environ:      e.environ,
		WithoutClore: withoutClore,
		Override: func(c *config.Config) {
			if e.cli.Sandbox {
				c.Clore.Sandbox = true
			}
		},
	})
	if err != nil {
		return nil, &usageError{err}
	}
	return cfg, nil
}

// usageError marks errors that exit with status 2.
type usageError struct{ err error }

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

// exitRequest carries kong's exit (after --help) out of the parser.
type exitRequest struct{ code int }

// Main runs clorebot with args and returns the exit status.
func Main(ctx context.Context, args, environ []string, stdout, stderr io.Writer) (code int) {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("clorebot"),
		kong.Description("Rent, watch and cancel Clore.ai GPU servers from Slack, Discord, webhooks and the command line."),
		kong.UsageOnError(),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitRequest{code}) }),
		kong.Vars{"version": version},
	)
	if err != nil {
		fmt.Fprintf(stderr, "clorebot: %v\n", err)
		return exitFailure
	}
	defer func() {
		if r := recover(); r != nil {
			req, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			code = req.code
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "clorebot: %v\n", err)
		return exitUsage
	}
	err = kctx.Run(&env{ctx: ctx, cli: &c, environ: environ, stdout: stdout, stderr: stderr})
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "clorebot: %s\n", strings.ReplaceAll(ue.err.Error(), "\n", "\nclorebot: "))
		return exitUsage
	default:
		fmt.Fprintf(stderr, "clorebot: %v\n", err)
		return exitFailure
	}
}

// newLogger builds the process's slog logger from the configuration.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

type configCheckCmd struct{}

// Run prints the effective configuration, secrets redacted.
func (configCheckCmd) Run(e *env) error {
	cfg, err := e.load()
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, cfg.Redacted())
	fmt.Fprintln(e.stderr, "configuration OK")
	return nil
}

type migrateCmd struct{}

// Run applies pending migrations to the configured database.
func (migrateCmd) Run(e *env) error {
	cfg, err := e.loadWithoutClore()
	if err != nil {
		return err
	}
	st, err := storage.Open(e.ctx, cfg.Storage.Path)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(e.ctx)
	if err != nil {
		return err
	}
	v, err := st.SchemaVersion(e.ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "applied %d migration(s) %v; %s is at schema version %d\n", len(applied), applied, cfg.Storage.Path, v)
	return nil
}

type versionCmd struct{}

// Run prints the version and build information.
func (versionCmd) Run(e *env) error {
	rev := ""
	goVersion := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = " " + s.Value
			}
		}
	}
	fmt.Fprintf(e.stdout, "clorebot %s%s (%s)\n", version, rev, goVersion)
	return nil
}
