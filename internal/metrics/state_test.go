package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestHTTPMetricsByRouteAndStatus(t *testing.T) {
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhook/create-order", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	h := m.HTTP().Middleware(mux)
	for _, r := range []*http.Request{
		httptest.NewRequest("POST", "/webhook/create-order", nil),
		httptest.NewRequest("POST", "/webhook/create-order", nil),
		httptest.NewRequest("GET", "/healthz", nil),
		httptest.NewRequest("GET", "/no/such/path/12345", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	body := scrape(t, m)
	for _, want := range []string{
		`clorebot_http_requests_total{code="202",route="POST /webhook/create-order"} 2`,
		`clorebot_http_requests_total{code="200",route="GET /healthz"} 1`,
		`clorebot_http_requests_total{code="404",route="unmatched"} 1`,
		`clorebot_http_request_duration_seconds_count{route="POST /webhook/create-order"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "12345") {
		t.Error("a client's path became a label")
	}
}

func TestStateMetrics(t *testing.T) {
	m := New()
	buckets := make([]uint64, len(JobDurationBounds))
	for i := range buckets {
		buckets[i] = 3
	}
	buckets[0] = 1
	fail := false
	m.WatchState(func(context.Context) (State, error) {
		if fail {
			return State{}, errors.New("database locked")
		}
		return State{
			Jobs: []JobCount{
				{Kind: "rent", State: "running", Count: 2},
				{Kind: "rent", State: "succeeded", Count: 3, Buckets: buckets, DurationSum: 400},
			},
			ActiveOrders: 4, SpendUSDPerHour: 6.25,
		}, nil
	}, nil)
	body := scrape(t, m)
	for _, want := range []string{
		`clorebot_jobs{kind="rent",state="running"} 2`,
		`clorebot_jobs{kind="rent",state="succeeded"} 3`,
		`clorebot_job_duration_seconds_bucket{kind="rent",state="succeeded",le="1"} 1`,
		`clorebot_job_duration_seconds_count{kind="rent",state="succeeded"} 3`,
		`clorebot_job_duration_seconds_sum{kind="rent",state="succeeded"} 400`,
		`clorebot_active_orders 4`,
		`clorebot_team_spend_usd_per_hour 6.25`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s\n%s", want, body)
		}
	}
	if strings.Contains(body, `clorebot_job_duration_seconds_count{kind="rent",state="running"}`) {
		t.Error("a running job has a duration")
	}
	fail = true
	if body := scrape(t, m); strings.Contains(body, "clorebot_active_orders") || !strings.Contains(body, "go_goroutines") {
		t.Error("a failed read must report nothing of its own and keep the rest")
	}
}

// A listener's catch-all pattern "/" (what no route takes) is labelled
// unmatched, as an unrouted request is.
func TestCatchAllIsUnmatched(t *testing.T) {
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	m.HTTP().Middleware(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/nope", nil))
	if body := scrape(t, m); !strings.Contains(body, `clorebot_http_requests_total{code="404",route="unmatched"} 1`) {
		t.Errorf("an unknown path is not labelled unmatched:\n%s", body)
	}
}
