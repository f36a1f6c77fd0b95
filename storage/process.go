package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ServeProcess is a running `clorebot serve` as it records itself in the
// database: what `clorebot exec` and `clorebot doctor` name when they say
// who enforces the end of a rent.
type ServeProcess struct {
	ID        string // the process's worker id, unique per start
	PID       int
	Host      string
	StartedAt time.Time
	SeenAt    time.Time // the last heartbeat
}

// BeatServe records p as alive at p.SeenAt (the store's clock when zero),
// inserting its row on the first beat.
func (s *Store) BeatServe(ctx context.Context, p ServeProcess) error {
	if p.ID == "" {
		return errors.New("storage: serve heartbeat: empty id")
	}
	if p.SeenAt.IsZero() {
		p.SeenAt = s.now()
	}
	if p.StartedAt.IsZero() {
		p.StartedAt = p.SeenAt
	}
	_, err := s.write.ExecContext(ctx, `INSERT INTO serve_processes (id, pid, host, started_at, seen_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`,
		p.ID, p.PID, p.Host, formatTime(p.StartedAt), formatTime(p.SeenAt))
	if err != nil {
		return fmt.Errorf("storage: serve heartbeat: %w", err)
	}
	return nil
}

// EndServe deletes the row of the serve process id (a clean stop).
func (s *Store) EndServe(ctx context.Context, id string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM serve_processes WHERE id = ?`, id); err != nil {
		return fmt.Errorf("storage: end serve: %w", err)
	}
	return nil
}

// LiveServes lists the serve processes whose last heartbeat is at or after
// since, most recently seen first.
func (s *Store) LiveServes(ctx context.Context, since time.Time) ([]ServeProcess, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, pid, host, started_at, seen_at FROM serve_processes
		WHERE seen_at >= ? ORDER BY seen_at DESC, id`, formatTime(since))
	if err != nil {
		return nil, fmt.Errorf("storage: live serves: %w", err)
	}
	defer rows.Close()
	var out []ServeProcess
	for rows.Next() {
		var p ServeProcess
		var started, seen string
		if err := rows.Scan(&p.ID, &p.PID, &p.Host, &started, &seen); err != nil {
			return nil, fmt.Errorf("storage: live serves: %w", err)
		}
		if p.StartedAt, err = parseTime(started); err == nil {
			p.SeenAt, err = parseTime(seen)
		}
		if err != nil {
			return nil, fmt.Errorf("storage: live serves: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: live serves: %w", err)
	}
	return out, nil
}
