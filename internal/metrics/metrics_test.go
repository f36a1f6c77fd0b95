package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
)

func TestCloreMetricsExposed(t *testing.T) {
	m := New()
	m.Request("create_order", "5", 20*time.Millisecond)
	m.Request("marketplace", "0", 30*time.Millisecond)
	m.LimiterWait(clore.Background, time.Second)
	m.MalformedEntries("marketplace", 2)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`clorebot_clore_requests_total{code="5",endpoint="create_order"} 1`,
		`clorebot_clore_requests_total{code="0",endpoint="marketplace"} 1`,
		`clorebot_clore_rate_limited_total{endpoint="create_order"} 1`,
		`clorebot_clore_limiter_wait_seconds_count{priority="background"} 1`,
		`clorebot_clore_request_duration_seconds_count{endpoint="marketplace"} 1`,
		`clorebot_clore_malformed_entries_total{endpoint="marketplace"} 2`,
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Every Clore series whose labels are known is present at 0 before the
// first call; the build is shown once.
func TestKnownSeriesAtZeroAndBuildInfo(t *testing.T) {
	m := New()
	m.BuildInfo("1.2.3", "abc1234", "go1.26.0")
	m.BuildInfo("1.2.3", "abc1234", "go1.26.0") // again: still one series
	m.HTTP().Known([]string{"POST /webhook/command", "/"})
	m.Deliveries().Known([]string{"subscriber"}, []string{"delivered", "error"})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`clorebot_build_info{commit="abc1234",go_version="go1.26.0",version="1.2.3"} 1`,
		`clorebot_clore_requests_total{code="5",endpoint="create_order"} 0`,
		`clorebot_clore_rate_limited_total{endpoint="wallets"} 0`,
		`clorebot_clore_malformed_entries_total{endpoint="marketplace"} 0`,
		`clorebot_clore_limiter_wait_seconds_count{priority="interactive"} 0`,
		`clorebot_http_requests_total{code="429",route="POST /webhook/command"} 0`,
		`clorebot_http_requests_total{code="405",route="unmatched"} 0`,
		`clorebot_webhook_delivery_attempts_total{result="error",target="subscriber"} 0`,
		`clorebot_webhook_delivery_dead_letters_total{target="subscriber"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if n := strings.Count(string(body), "clorebot_build_info{"); n != 1 {
		t.Errorf("%d build_info series", n)
	}
	if strings.Contains(string(body), `route="/"`) {
		t.Error(`the catch-all "/" is a route label`)
	}
}
