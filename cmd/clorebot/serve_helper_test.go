package main

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"
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
