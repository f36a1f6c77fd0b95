package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// JobDurationBounds are the buckets (seconds) of clorebot_job_duration_seconds:
// quick cancels to the 15-minute provisioning deadline and beyond.
var JobDurationBounds = []float64{1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600}

// JobCount is the number of jobs of one kind in one state and, for ended
// jobs, the cumulative counts of their durations per JobDurationBounds.
type JobCount struct {
	Kind, State string
	Count       uint64
	Buckets     []uint64
	DurationSum float64
}

// State is what the database says at scrape time.
type State struct {
	Jobs            []JobCount
	ActiveOrders    int
	SpendUSDPerHour float64
}

// StateFunc reads the State; it must honour ctx.
type StateFunc func(ctx context.Context) (State, error)

// stateCollector reports the State at each scrape: gauges of jobs by kind
// and state, the ended jobs' duration histogram, active orders and the
// team's spend per hour. Nothing is counted in memory, so the figures hold
// across restarts and include what other processes (clorebot exec) did.
type stateCollector struct {
	read     StateFunc
	log      *slog.Logger
	jobs     *prometheus.Desc
	duration *prometheus.Desc
	orders   *prometheus.Desc
	spend    *prometheus.Desc
}

// WatchState registers a collector that reads the State at each scrape
// (within 2 s; a failed read is logged and reports nothing).
func (m *Metrics) WatchState(read StateFunc, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	register(m.reg, prometheus.Collector(&stateCollector{
		read: read, log: log,
		jobs: prometheus.NewDesc("clorebot_jobs", "Jobs by kind (rent, cancel) and state (awaiting_confirmation, queued, running, succeeded, failed, cancelled).",
			[]string{"kind", "state"}, nil),
		duration: prometheus.NewDesc("clorebot_job_duration_seconds", "Time from a job's acceptance to its end, for ended jobs, by kind and state.",
			[]string{"kind", "state"}, nil),
		orders: prometheus.NewDesc("clorebot_active_orders", "Orders not ended (creating, provisioning, running, cancelling).", nil, nil),
		spend:  prometheus.NewDesc("clorebot_team_spend_usd_per_hour", "Total price per hour of the active orders, USD, fees included.", nil, nil),
	}))
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.duration
	ch <- c.orders
	ch <- c.spend
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.read(ctx)
	if err != nil {
		c.log.Warn("metrics: reading jobs and orders", slog.Any("error", err))
		return
	}
	for _, j := range st.Jobs {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(j.Count), j.Kind, j.State)
		if !ended(j.State) || len(j.Buckets) != len(JobDurationBounds) {
			continue
		}
		buckets := make(map[float64]uint64, len(JobDurationBounds))
		for i, b := range JobDurationBounds {
			buckets[b] = j.Buckets[i]
		}
		ch <- prometheus.MustNewConstHistogram(c.duration, j.Count, j.DurationSum, buckets, j.Kind, j.State)
	}
	ch <- prometheus.MustNewConstMetric(c.orders, prometheus.GaugeValue, float64(st.ActiveOrders))
	ch <- prometheus.MustNewConstMetric(c.spend, prometheus.GaugeValue, st.SpendUSDPerHour)
}

func ended(state string) bool {
	return state == "succeeded" || state == "failed" || state == "cancelled"
}
