package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/config"
)

// Exit statuses. Scripts rely on them (README, "Exit statuses").
const (
	exitOK      = 0
	exitFailure = 1 // the command was refused or failed, or its job failed
	exitUsage   = 2 // bad command line or bad configuration: nothing was started
	// exitPending: a rent awaits confirmation (exec without --yes above
	// policy.confirm_above); nothing is rented until `confirm <job-id>`.
	exitPending = 3
	// exitInterrupted: SIGINT/SIGTERM stopped the command (128 + SIGINT).
	exitInterrupted = 130
)

// cli is the command line (DESIGN.md §6).
type cli struct {
	Config      string           `help:"Configuration file (default clorebot.toml; optional unless named)." env:"CLOREBOT_CONFIG" placeholder:"FILE"`
	Sandbox     bool             `help:"Use the built-in simulated Clore marketplace: no API key needed."`
	Verbose     bool             `short:"v" help:"Log at the configured level in one-shot commands too (default: warnings and errors only)."`
	VersionFlag kong.VersionFlag `name:"version" help:"Print the version and exit."`

	Serve      serveCmd       `cmd:"" help:"Run every configured front door, the scheduler and the HTTP listener."`
	Exec       execCmd        `cmd:"" help:"Run one command (rent, cancel, status, watch, market, confirm, help) and print the reply."`
	Webhook    webhookCmds    `cmd:"" help:"Helpers for inbound webhook callers."`
	Deliveries deliveriesCmds `cmd:"" help:"Outbound webhook deliveries, the dead-letter queue and a signed test.ping."`
	ConfigCmds configCmds     `cmd:"" name:"config" help:"Inspect the configuration."`
	Audit      auditCmd       `cmd:"" help:"Print the audit log of commands and buttons, newest first."`
	Spend      spendCmd       `cmd:"" help:"Print what orders spent (Clore's own figures), per user, team or GPU, with the budgets."`
	Doctor     doctorCmd      `cmd:"" help:"Check the deployment as configured, one line per check; exit 1 when one failed."`
	Migrate    migrateCmd     `cmd:"" help:"Apply pending database migrations."`
	Version    versionCmd     `cmd:"" help:"Print the version, commit and build date."`

	Healthcheck healthcheckCmd `cmd:"" help:"Probe the HTTP listener's liveness (for container HEALTHCHECKs)."`
}

type configCmds struct {
	Check configCheckCmd `cmd:"" help:"Validate the configuration and print it with secrets redacted."`
}

// env is what every command's Run receives.
type env struct {
	ctx     context.Context
	cli     *cli
	command string // kong's command path, e.g. "serve", "exec <text>"
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
		Platforms:    doorPlatforms(),
		Warn:         func(msg string) { fmt.Fprintf(e.stderr, "clorebot: warning: %s\n", msg) },
		Override: func(c *config.Config) {
			if e.cli.Sandbox {
				c.Clore.Sandbox = true
			}
		},
	})
	if err != nil {
		return nil, &usageError{err}
	}
	if err := movedDatabase(cfg); err != nil {
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

// exitError ends a command with a given exit status after it has said why.
type exitError struct {
	code int
	msg  string // printed to stderr when not empty
}

func (x *exitError) Error() string { return x.msg }

// Main runs clorebot with args and returns the exit status.
func Main(ctx context.Context, args, environ []string, stdout, stderr io.Writer) (code int) {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("clorebot"),
		kong.Description("Rent, watch and cancel Clore.ai GPU servers from Slack, Discord, webhooks and the command line."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitRequest{code}) }),
		kong.Vars{"version": versionLine()},
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
	if len(args) == 0 {
		// A bare clorebot: the usage, not only "expected one of ...".
		parser.Stdout = stderr
		if kctx, err := kong.Trace(parser, nil); err == nil {
			_ = kctx.PrintUsage(true)
		}
		return exitUsage
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		parser.Stdout = stderr // the usage goes with the error
		printParseError(stderr, err)
		return exitUsage
	}
	ctx, stop := trapSignals(ctx, kctx.Command())
	defer stop()
	e := &env{ctx: ctx, cli: &c, command: kctx.Command(), environ: environ, stdout: stdout, stderr: stderr}
	return exitStatus(stderr, kctx.Run(e))
}

// printParseError prints the error, then the usage of the command it is about.
func printParseError(w io.Writer, err error) {
	fmt.Fprintf(w, "clorebot: %v\n\n", err)
	var pe *kong.ParseError
	if errors.As(err, &pe) && pe.Context != nil {
		_ = pe.Context.PrintUsage(true)
	}
}

// exitStatus reports err and maps it to an exit status.
func exitStatus(stderr io.Writer, err error) int {
	var ue *usageError
	var xe *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &xe):
		if xe.msg != "" {
			fmt.Fprintf(stderr, "clorebot: %s\n", xe.msg)
		}
		return xe.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "clorebot: %s\n", strings.ReplaceAll(ue.err.Error(), "\n", "\nclorebot: "))
		return exitUsage
	default:
		fmt.Fprintf(stderr, "clorebot: %v\n", err)
		return exitFailure
	}
}

// trapSignals applies DESIGN.md §6: serve and exec turn SIGINT and SIGTERM
// into the end of ctx (serve shuts down gracefully; exec says which job is
// still running). Every other command keeps the default action and exits at
// once.
func trapSignals(ctx context.Context, command string) (context.Context, context.CancelFunc) {
	switch strings.Fields(command)[0] {
	case "serve", "exec":
		return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	}
	return ctx, func() {}
}

// oneShot reports whether the running command ends by itself (everything but
// serve): its logs below WARN are hidden unless -v.
func (e *env) oneShot() bool { return strings.Fields(e.command)[0] != "serve" }

// logger is the command's logger: the configured one, raised to WARN in
// one-shot commands unless -v.
func (e *env) logger(cfg *config.Config) *slog.Logger {
	l := newLogger(cfg, e.stderr, e.oneShot() && !e.cli.Verbose)
	routeDiscordgo(l)
	return l
}

// configSource names the configuration file a command loaded, for serve and
// config check to print.
func (e *env) configSource() string {
	path := e.cli.Config
	if path == "" {
		path = config.DefaultPath
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Sprintf("no configuration file (%s absent): defaults and CLOREBOT_* environment", path)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return "configuration file " + path
}

type configCheckCmd struct {
	JSON bool `help:"Print one JSON document (docs/schema/config-check.json): the effective configuration, or the error."`
}

// Run prints the effective configuration, secrets redacted.
func (c configCheckCmd) Run(e *env) error {
	cfg, err := e.load()
	if c.JSON {
		return c.printJSON(e, cfg, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "# %s\n", e.configSource())
	fmt.Fprint(e.stdout, cfg.Redacted())
	fmt.Fprintf(e.stderr, "configuration OK (%s)\n", e.configSource())
	return nil
}

type migrateCmd struct{}

// Run applies pending migrations to the configured database.
func (migrateCmd) Run(e *env) error {
	cfg, err := e.loadWithoutClore()
	if err != nil {
		return err
	}
	st, err := openStorage(e.ctx, cfg)
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
	fmt.Fprintf(e.stdout, "applied %d migration(s) %v; %s is at schema version %d\n", len(applied), applied, storageName(cfg), v)
	return nil
}

type versionCmd struct {
	JSON bool `help:"Print one JSON document (docs/schema/version.json)."`
}

// Run prints the version, commit and build date.
func (c versionCmd) Run(e *env) error {
	if c.JSON {
		return writeJSONDoc(e.stdout, newVersionReport(readBuildInfo()))
	}
	fmt.Fprintln(e.stdout, versionLine())
	return nil
}

// printJSON is config check --json: the configuration, or the error that
// makes it invalid (exit 2 then, as without --json).
func (configCheckCmd) printJSON(e *env, cfg *config.Config, loadErr error) error {
	if loadErr != nil {
		if err := writeJSONDoc(e.stdout, configError{ErrorInfo: commands.ErrorInfo{Error: loadErr.Error()}, Source: e.configSource()}); err != nil {
			return err
		}
		return &exitError{code: exitUsage}
	}
	m, err := redactedConfig(cfg.Redacted())
	if err != nil {
		return fmt.Errorf("config check: %w", err)
	}
	return writeJSONDoc(e.stdout, configReport{Valid: true, Source: e.configSource(), Config: m})
}
