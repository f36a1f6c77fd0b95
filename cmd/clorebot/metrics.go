package main

import (
	"context"

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

func stateFrom(s storage.Stats) metrics.State {
	out := metrics.State{ActiveOrders: s.ActiveOrders, SpendUSDPerHour: s.SpendUSDPerHour}
	for _, j := range s.Jobs {
		out.Jobs = append(out.Jobs, metrics.JobCount(j))
	}
	return out
}
