package storage

import (
	"context"
	"fmt"
	"strings"
)

// JobStat is the number of jobs of one kind in one state and, for ended
// jobs, the distribution of their durations (accepted to ended).
type JobStat struct {
	Kind, State string
	Count       uint64
	// Buckets[i] counts the jobs that took at most the i-th bound given to
	// Stats (cumulative); only set for ended jobs.
	Buckets     []uint64
	DurationSum float64 // seconds
}

// Stats is what /metrics reports from the database.
type Stats struct {
	Jobs            []JobStat
	ActiveOrders    int     // orders not ended: creating, provisioning, running, cancelling
	SpendUSDPerHour float64 // their total price per hour, fees included
}

// Stats aggregates jobs by kind and state (with duration buckets, in
// seconds, for ended jobs) and the active orders, in one read transaction.
func (s *Store) Stats(ctx context.Context, bounds []float64) (Stats, error) {
	var st Stats
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("storage: stats: %w", err)
	}
	defer tx.Rollback()
	d := s.sq(`((julianday(updated_at) - julianday(created_at)) * 86400.0)`,
		`extract(epoch FROM updated_at::timestamptz - created_at::timestamptz)::float8`)
	cols := []string{"kind", "state", "COUNT(*)", "COALESCE(SUM(" + d + "), 0)"}
	for range bounds {
		cols = append(cols, "COALESCE(SUM(CASE WHEN "+d+" <= ? THEN 1 ELSE 0 END), 0)")
	}
	args := make([]any, len(bounds))
	for i, b := range bounds {
		args[i] = b
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM jobs GROUP BY kind, state ORDER BY kind, state`, args...)
	if err != nil {
		return st, fmt.Errorf("storage: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		j := JobStat{Buckets: make([]uint64, len(bounds))}
		dest := []any{&j.Kind, &j.State, &j.Count, &j.DurationSum}
		for i := range j.Buckets {
			dest = append(dest, &j.Buckets[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return st, fmt.Errorf("storage: stats: %w", err)
		}
		st.Jobs = append(st.Jobs, j)
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("storage: stats: %w", err)
	}
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(usd_per_hour), 0) FROM orders
		WHERE state IN ('creating', 'provisioning', 'running', 'cancelling')`).Scan(&st.ActiveOrders, &st.SpendUSDPerHour)
	if err != nil {
		return st, fmt.Errorf("storage: stats: %w", err)
	}
	return st, nil
}

// SchemaStatus returns the database's schema version and the latest one
// this build knows (doctor: "migrated").
func (s *Store) SchemaStatus(ctx context.Context) (current, latest int, err error) {
	current, err = s.SchemaVersion(ctx)
	return current, s.latestVersion(), err
}
