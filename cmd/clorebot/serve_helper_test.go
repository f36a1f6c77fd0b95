package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/internal/config"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// runServe loads the configuration at configPath as `serve` does, opens the
// App, runs prepare (if any) before it serves, and runs it until the test
// ends; cleanup cancels it and checks that it stopped and closed cleanly.
func runServe(t testing.TB, configPath string, logger *slog.Logger, prepare func(context.Context, *App) error) *App {
	t.Helper()
	app, stop := startApp(t, configPath, logger, prepare)
	t.Cleanup(stop)
	return app
}

// startApp is runServe with the stop left to the caller (a test that
// restarts serve): stop cancels Run, checks that it returned and that Close
// succeeded; later calls do nothing.
func startApp(t testing.TB, configPath string, logger *slog.Logger, prepare func(context.Context, *App) error) (*App, func()) {
	t.Helper()
	e := &env{ctx: context.Background(), cli: &cli{Config: configPath}}
	cfg, err := e.load()
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	app := NewApp(cfg, logger)
	ctx, cancel := context.WithCancel(context.Background())
	if err := app.Open(ctx); err != nil {
		cancel()
		t.Fatalf("Open: %v", err)
	}
	if prepare != nil {
		if err := prepare(ctx, app); err != nil {
			cancel()
			_ = app.Close()
			t.Fatalf("prepare: %v", err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	var once sync.Once
	return app, func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("Run did not return after cancel")
			}
			if err := app.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// writeConfig writes a test configuration file readable by its owner only.
func writeConfig(t testing.TB, path, conf string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
}

// testDB is what a test in dir opens as the bot's database: the SQLite file
// dir/clorebot.db, or with CLOREBOT_TEST_POSTGRES_URL set the PostgreSQL
// database that stands for it (storagetest.At: the same one for every run,
// serve or direct open in dir).
func testDB(t testing.TB, dir string) string {
	t.Helper()
	return storagetest.At(t, filepath.Join(dir, "clorebot.db"))
}

// storageConfig is the [storage] table of a test configuration in dir:
// path is dir/clorebot.db (it also names the data directory, where the
// sandbox keeps its state); on PostgreSQL url is testDB's database.
func storageConfig(t testing.TB, dir string) string {
	t.Helper()
	conf := fmt.Sprintf("[storage]\npath = %q\n", filepath.ToSlash(filepath.Join(dir, "clorebot.db")))
	if storagetest.Postgres() {
		conf += fmt.Sprintf("url = %q\n", testDB(t, dir))
	}
	return conf
}

// dbName is how clorebot's messages name the database of a test in dir:
// the file, or the URL without its secrets.
func dbName(t testing.TB, dir string) string {
	t.Helper()
	if storagetest.Postgres() {
		return config.RedactURL(testDB(t, dir))
	}
	return filepath.Join(dir, "clorebot.db")
}

// storageEnv is storageConfig as environment variables, for config.Load's
// Environ and run's.
func storageEnv(t testing.TB, dir string) []string {
	t.Helper()
	env := []string{"CLOREBOT_STORAGE_PATH=" + filepath.Join(dir, "clorebot.db")}
	if storagetest.Postgres() {
		env = append(env, "CLOREBOT_STORAGE_URL="+testDB(t, dir))
	}
	return env
}

// sandboxConfig is the head every `serve --sandbox` test configuration in
// dir shares: a fast Clore spacing, storageConfig, a listener on :0, and
// the [sandbox] table last, so that the caller may add keys to it
// (servers = …) before its own tables.
func sandboxConfig(t testing.TB, dir string) string {
	t.Helper()
	return `[clore]
sandbox = true
min_interval = "20ms"
create_interval = "50ms"
` + storageConfig(t, dir) + `[http]
listen = "127.0.0.1:0"
[sandbox]
provision_delay = "300ms"
`
}

// onTestDB adds to environ, on PostgreSQL, the CLOREBOT_STORAGE_URL of the
// database that stands for the file a run of args in dir opens: environ's
// CLOREBOT_STORAGE_PATH (relative to dir) or dir/clorebot.db, the default.
// A run that names its URL itself, a run with --config (its file says where
// the database is: storageConfig) and every run on SQLite keep environ.
func onTestDB(t testing.TB, dir string, environ, args []string) []string {
	t.Helper()
	if !storagetest.Postgres() || slices.Contains(args, "--config") {
		return environ
	}
	path := filepath.Join(dir, "clorebot.db")
	for _, kv := range environ {
		if p, ok := strings.CutPrefix(kv, "CLOREBOT_STORAGE_PATH="); ok {
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			path = p
		}
		if strings.HasPrefix(kv, "CLOREBOT_STORAGE_URL=") {
			return environ
		}
	}
	return append(slices.Clip(environ), "CLOREBOT_STORAGE_URL="+storagetest.At(t, path))
}
