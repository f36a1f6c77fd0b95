package main

import (
	"bufio"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/internal/config"
)

// scrapeSeries reads /metrics at base into series (name with labels, as
// printed) → value text.
func scrapeSeries(t *testing.T, base string) map[string]string {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("GET %s/metrics = %d", base, code)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out
}

// With http.metrics_listen, /metrics is served there and not on the public
// listener; from the first scrape it shows the build, every counter whose
// labels are known at 0, and unknown paths under route "unmatched".
func TestMetricsOnTheirOwnListenerFromStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := config.Load(config.LoadOptions{
		Path:     filepath.Join(dir, "absent.toml"),
		Environ:  append(storageEnv(t, dir), "CLOREBOT_HTTP_LISTEN=127.0.0.1:0", "CLOREBOT_HTTP_METRICS_LISTEN=127.0.0.1:0"),
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
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := app.Close(); err != nil {
			t.Error(err)
		}
	}()
	public := "http://" + app.Addr().String()
	if app.MetricsAddr() == nil || app.MetricsAddr().String() == app.Addr().String() {
		t.Fatalf("metrics address %v, public %v", app.MetricsAddr(), app.Addr())
	}
	private := "http://" + app.MetricsAddr().String()
	if code, _ := get(t, public+"/metrics"); code != 404 {
		t.Errorf("GET /metrics on http.listen = %d, want 404", code)
	}
	if code, _ := get(t, public+"/no/such/route"); code != 404 {
		t.Errorf("GET /no/such/route = %d", code)
	}
	series := scrapeSeries(t, private)
	b := readBuildInfo()
	for want, value := range map[string]string{
		`clorebot_build_info{commit="` + b.commitText() + `",go_version="` + runtime.Version() + `",version="` + b.Version + `"}`: "1",
		`clorebot_clore_rate_limited_total{endpoint="create_order"}`:                                                              "0",
		`clorebot_clore_requests_total{code="transport",endpoint="create_order"}`:                                                 "0",
		`clorebot_clore_malformed_entries_total{endpoint="my_orders"}`:                                                            "0",
		`clorebot_webhook_delivery_dead_letters_total{target="subscriber"}`:                                                       "0",
		`clorebot_webhook_delivery_attempts_total{result="timeout",target="callback"}`:                                            "0",
		`clorebot_http_requests_total{code="401",route="POST /webhook/create-order"}`:                                             "0",
		`clorebot_http_requests_total{code="500",route="GET /webhook/jobs/{id}"}`:                                                 "0",
		`clorebot_http_requests_total{code="404",route="unmatched"}`:                                                              "2", // both GETs above
		`clorebot_http_request_duration_seconds_count{route="POST /webhook/price-alert"}`:                                         "0",
		`clorebot_jobs{kind="rent",state="failed"}`:                                                                               "0",
		`clorebot_job_duration_seconds_count{kind="cancel",state="succeeded"}`:                                                    "0",
	} {
		if got, ok := series[want]; !ok || got != value {
			t.Errorf("%s = %q (present %v), want %s", want, got, ok, value)
		}
	}
	for s := range series {
		if strings.Contains(s, `route="/"`) {
			t.Errorf("series %s: unknown routes must be labelled unmatched", s)
		}
		if strings.Contains(s, `route="GET /metrics"`) {
			t.Errorf("series %s: scrapes on the metrics listener are not requests", s)
		}
	}
}

// docs/operations.md's metrics table lists every clorebot_* metric /metrics
// serves, with its type.
func TestDocsListEveryMetric(t *testing.T) {
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
	if err := app.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	rec := httptest.NewRecorder()
	app.http.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	types := map[string]string{}
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[1] == "TYPE" && strings.HasPrefix(f[2], "clorebot_") {
			types[f[2]] = f[3]
		}
	}
	if len(types) < 15 {
		t.Fatalf("only %d clorebot metrics served: %v", len(types), types)
	}
	readme, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range types {
		row := "| `" + name + "` | " + typ + " |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("docs/operations.md's metrics table lacks the row %q", row)
		}
	}
}
