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
