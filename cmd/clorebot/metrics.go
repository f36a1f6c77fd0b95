package main

import (
	"context"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/metrics"
	"github.com/clorebot/clorebot/storage"
)

// watchState lets /metrics report jobs, job durations, active orders and
// the team's spend from the database at each scrape.
func (a *App) watchState() {
	st := a.store
	a.metrics.WatchState(func(ctx context.Context) (metrics.State, error) {
		s, err := st.Stats(ctx, metrics.JobDurationBounds)
		if err != nil {
			return metrics.State{}, err
		}
		return stateFrom(s), nil
	}, a.log)
}

// stateFrom maps the database's figures to the metrics' State, with every
// kind and state of job present (at 0 when the database has none).
func stateFrom(s storage.Stats) metrics.State {
	out := metrics.State{ActiveOrders: s.ActiveOrders, SpendUSDPerHour: s.SpendUSDPerHour}
	type key struct{ kind, state string }
	have := map[key]bool{}
	for _, j := range s.Jobs {
		out.Jobs = append(out.Jobs, metrics.JobCount(j))
		have[key{j.Kind, j.State}] = true
	}
	for _, kind := range []string{commands.JobRent, commands.JobCancel} {
		for _, state := range []string{commands.JobAwaitingConfirmation, commands.JobQueued, commands.JobRunning,
			commands.JobSucceeded, commands.JobFailed, commands.JobCancelled} {
			if !have[key{kind, state}] {
				out.Jobs = append(out.Jobs, metrics.JobCount{Kind: kind, State: state,
					Buckets: make([]uint64, len(metrics.JobDurationBounds))})
			}
		}
	}
	return out
}
