package metrics

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DeliveryMetrics are the instruments of outbound webhook deliveries. It
// implements the webhook package's DeliveryObserver (checked where both are
// known, in cmd/clorebot: internal packages do not import front doors).
type DeliveryMetrics struct {
	attempts *prometheus.CounterVec
	dead     *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// Deliveries registers the delivery instruments on m's registry and returns
// them. Calling it again returns instruments bound to the same series.
func (m *Metrics) Deliveries() *DeliveryMetrics {
	return &DeliveryMetrics{
		attempts: register(m.reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clorebot_webhook_delivery_attempts_total",
			Help: "Outbound webhook delivery attempts by target (subscriber, callback) and result (delivered, rejected, timeout, error).",
		}, []string{"target", "result"})),
		dead: register(m.reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clorebot_webhook_delivery_dead_letters_total",
			Help: "Outbound webhook deliveries dead-lettered, by target.",
		}, []string{"target"})),
		latency: register(m.reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clorebot_webhook_delivery_duration_seconds",
			Help:    "Duration of outbound webhook delivery attempts, by target.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15},
		}, []string{"target"})),
	}
}

// Known creates, at 0, the series of every delivery target and result
// given (the webhook package's Target* and Result* values).
func (d *DeliveryMetrics) Known(targets, results []string) {
	for _, t := range targets {
		for _, r := range results {
			d.attempts.WithLabelValues(t, r)
		}
		d.dead.WithLabelValues(t)
		d.latency.WithLabelValues(t)
	}
}

// register registers c, or returns the collector already registered under
// the same description.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	if err != nil {
		// Only a programming mistake (a clashing name) gets here.
		panic(err)
	}
	return c
}

// ObserveDeliveryAttempt counts an attempt and its duration.
func (d *DeliveryMetrics) ObserveDeliveryAttempt(target, result string, took time.Duration) {
	d.attempts.WithLabelValues(target, result).Inc()
	d.latency.WithLabelValues(target).Observe(took.Seconds())
}

// ObserveDeadLetter counts a dead-lettered delivery.
func (d *DeliveryMetrics) ObserveDeadLetter(target string) {
	d.dead.WithLabelValues(target).Inc()
}
