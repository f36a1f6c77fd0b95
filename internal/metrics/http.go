package metrics

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTPMetrics count inbound HTTP requests (webhooks, health, chat HTTP
// mode) by route pattern and status.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// HTTP registers the inbound request instruments on m's registry.
func (m *Metrics) HTTP() *HTTPMetrics {
	return &HTTPMetrics{
		requests: register(m.reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clorebot_http_requests_total",
			Help: "Inbound HTTP requests by route (the ServeMux pattern, e.g. \"POST /webhook/create-order\"; \"unmatched\" for unknown paths and methods) and status code.",
		}, []string{"route", "code"})),
		latency: register(m.reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clorebot_http_request_duration_seconds",
			Help:    "Duration of inbound HTTP requests by route.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"route"})),
	}
}

// Middleware measures every request next serves. The route label is the
// pattern the ServeMux matched, so its cardinality is bounded by the routes,
// whatever paths clients send.
func (h *HTTPMetrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := routeLabel(r.Pattern)
		h.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		h.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// Unmatched is the route label of a request no route took: a path without
// a route (404) or a method the path does not take (405). The listener
// answers those from its catch-all pattern "/", which is no route of its
// own.
const Unmatched = "unmatched"

func routeLabel(pattern string) string {
	if pattern == "" || pattern == "/" {
		return Unmatched
	}
	return pattern
}

// knownCodes are the status codes the HTTP contract names (DESIGN.md §5):
// Known creates each route's series with each of them at 0.
var knownCodes = []string{"200", "201", "202", "400", "401", "403", "404", "405", "409", "413", "415", "422", "429", "500", "503"}

// Known creates, at 0, the series of every route given (ServeMux patterns;
// "/" counts as Unmatched) with every code of knownCodes, and each route's
// duration histogram: a rate() or a ratio of errors has a value from the
// first scrape, not only after the first such answer.
func (h *HTTPMetrics) Known(routes []string) {
	for _, r := range append(slices.Clone(routes), Unmatched) {
		r = routeLabel(r)
		for _, c := range knownCodes {
			h.requests.WithLabelValues(r, c)
		}
		h.latency.WithLabelValues(r)
	}
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code    int
	written bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.written {
		w.code, w.written = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.written = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
