package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/internal/config"
)

// run calls Main in a temporary working directory and returns status and output.
func run(t *testing.T, dir string, environ []string, args ...string) (int, string, string) {
	t.Helper()
	t.Chdir(dir)
	environ = onTestDB(t, dir, environ, args)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, environ, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestBadConfigurationExitsTwoAndStartsNothing(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		args    []string
		want    string
	}{
		{name: "unknown key", file: "[clore]\nsandbox = true\ntomato = 1\n", args: []string{"serve"}, want: "clore.tomato"},
		{name: "bad duration in file", file: "[watch]\ninterval = \"5x\"\n", args: []string{"serve", "--sandbox"}, want: "watch.interval"},
		{name: "bad duration in env", environ: []string{"CLOREBOT_WATCH_INTERVAL=soon"}, args: []string{"serve", "--sandbox"}, want: "watch.interval"},
		{name: "missing API key without sandbox", args: []string{"serve"}, want: "clore.api_key"},
		{name: "config check too", args: []string{"config", "check"}, want: "clore.api_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != "" {
				if err := os.WriteFile(filepath.Join(dir, "clorebot.toml"), []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			environ := append([]string{"CLOREBOT_HTTP_LISTEN=127.0.0.1:0"}, tt.environ...)
			code, _, stderr := run(t, dir, environ, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 naming %s", code, stderr, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "clorebot.db")); err == nil {
				t.Error("a database was created although the configuration is bad")
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	freshDatabaseIn(t, dir) // migrate's first run applies every migration
	if code, out, _ := run(t, dir, nil, "version"); code != 0 || !strings.HasPrefix(out, "clorebot ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, _ := run(t, dir, nil, "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, out, _ := run(t, dir, nil, "--help"); code != 0 || !strings.Contains(out, "serve") {
		t.Errorf("--help: %d %q", code, out)
	}
	code, out, _ := run(t, dir, []string{"CLOREBOT_CLORE_API_KEY=very-secret-key-123", "CLOREBOT_SLACK_BOT_TOKEN=xoxb-not-a-real-one"}, "config", "check")
	if code != 0 || !strings.Contains(out, "[clore]") || strings.Contains(out, "very-secret-key-123") || strings.Contains(out, "xoxb-not") {
		t.Errorf("config check: %d %q", code, out)
	}
	code, out, _ = run(t, dir, nil, "migrate", "--sandbox")
	if code != 0 || !strings.Contains(out, "schema version") {
		t.Errorf("migrate: %d %q", code, out)
	}
	if code, out, _ = run(t, dir, nil, "migrate", "--sandbox"); code != 0 || !strings.Contains(out, "applied 0") {
		t.Errorf("second migrate: %d %q", code, out)
	}
}

// End to end: the sandbox, storage and the listener on :0, probed over HTTP,
// then a graceful shutdown.
func TestServeSandbox(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := config.Load(config.LoadOptions{
		Path:     filepath.Join(dir, "absent.toml"),
		Environ:  append(storageEnv(t, dir), "CLOREBOT_HTTP_LISTEN=127.0.0.1:0"),
		Override: func(c *config.Config) { c.Clore.Sandbox = true },
	})
	if err != nil {
		t.Fatal(err)
	}
	app := NewApp(cfg, newLogger(cfg, io.Discard, false))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := app.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	base := "http://" + app.Addr().String()
	for _, path := range []string{"/healthz", "/health"} {
		if code, body := get(t, base+path); code != 200 {
			t.Errorf("GET %s = %d %s", path, code, body)
		}
	}
	// Ready once the first marketplace and my_orders snapshots are loaded.
	waitReady(t, base)
	// Run loaded the sandbox marketplace through the client: metrics show it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, base+"/metrics")
		if strings.Contains(body, `clorebot_clore_requests_total{code="0",endpoint="marketplace"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed the marketplace call:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Inbound requests by route and status, jobs and orders from the database.
	_, body := get(t, base+"/metrics")
	for _, want := range []string{
		`clorebot_http_requests_total{code="200",route="GET /healthz"} 1`,
		`clorebot_http_requests_total{code="200",route="GET /readyz"} 1`,
		"clorebot_active_orders 0", "clorebot_team_spend_usd_per_hour 0",
		"clorebot_clore_limiter_wait_seconds_count",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "clorebot-sandbox.db")); err != nil {
		t.Errorf("sandbox state not in the data directory: %v", err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
