package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clorebot/clorebot/clore"
)

// Metrics is the process's registry and instruments.
type Metrics struct {
	reg           *prometheus.Registry
	cloreRequests *prometheus.CounterVec
	cloreLatency  *prometheus.HistogramVec
	cloreLimited  *prometheus.CounterVec
	limiterWait   *prometheus.HistogramVec
	malformed     *prometheus.CounterVec
}

// New registers clorebot's instruments and the Go and process collectors on a
// fresh registry (no global state).
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		cloreRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clorebot_clore_requests_total",
			Help: "Clore API requests by endpoint and Clore response code (\"transport\" when no envelope came back).",
		}, []string{"endpoint", "code"}),
		cloreLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clorebot_clore_request_duration_seconds",
			Help:    "Duration of Clore API HTTP exchanges, limiter wait excluded.",
			Buckets: prometheus.ExponentialBuckets(0.025, 2, 10),
		}, []string{"endpoint"}),
		cloreLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clorebot_clore_rate_limited_total",
			Help: "Clore answers with code 5 (rate limit exceeded) by endpoint.",
		}, []string{"endpoint"}),
		limiterWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clorebot_clore_limiter_wait_seconds",
			Help:    "Time calls waited for the per-key Clore rate limiter, by priority.",
			Buckets: []float64{0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60},
		}, []string{"priority"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clorebot_clore_malformed_entries_total",
			Help: "Entries of Clore answers (marketplace servers, my_orders orders) left out because they could not be decoded.",
		}, []string{"endpoint"}),
	}
	m.reg.MustRegister(m.cloreRequests, m.cloreLatency, m.cloreLimited, m.limiterWait, m.malformed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.initClore()
	return m
}

// initClore creates every Clore series whose labels are known (each
// endpoint the client calls, each code, each priority) at 0: a rate() or an
// alert on them has a value from the first scrape, not only after the first
// rate limit.
func (m *Metrics) initClore() {
	for _, e := range clore.Endpoints() {
		for _, code := range clore.ObservedCodes() {
			m.cloreRequests.WithLabelValues(e, code)
		}
		m.cloreLatency.WithLabelValues(e)
		m.cloreLimited.WithLabelValues(e)
	}
	for _, e := range clore.ListEndpoints() {
		m.malformed.WithLabelValues(e)
	}
	for _, p := range []clore.Priority{clore.Interactive, clore.Background} {
		m.limiterWait.WithLabelValues(p.String())
	}
}

// BuildInfo registers clorebot_build_info{version,commit,go_version} = 1:
// which build each instance runs, to join with any other series.
func (m *Metrics) BuildInfo(version, commit, goVersion string) {
	g := register(m.reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "clorebot_build_info",
		Help: "Always 1; its labels are the version, commit and Go version of the running binary.",
	}, []string{"version", "commit", "go_version"}))
	g.Reset()
	g.WithLabelValues(version, commit, goVersion).Set(1)
}

// Registry is the registry behind Handler, for packages that add instruments.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Request implements clore.Observer.
func (m *Metrics) Request(endpoint, code string, d time.Duration) {
	m.cloreRequests.WithLabelValues(endpoint, code).Inc()
	m.cloreLatency.WithLabelValues(endpoint).Observe(d.Seconds())
	if code == "5" {
		m.cloreLimited.WithLabelValues(endpoint).Inc()
	}
}

// LimiterWait implements clore.Observer.
func (m *Metrics) LimiterWait(p clore.Priority, d time.Duration) {
	m.limiterWait.WithLabelValues(p.String()).Observe(d.Seconds())
}

// MalformedEntries implements clore.Observer.
func (m *Metrics) MalformedEntries(endpoint string, n int) {
	m.malformed.WithLabelValues(endpoint).Add(float64(n))
}

var _ clore.Observer = (*Metrics)(nil)
