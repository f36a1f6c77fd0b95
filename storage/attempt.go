package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// recordAttempt writes a create_order the job jobID is about to send
// (DESIGN §7), inside the caller's transaction.
func recordAttempt(ctx context.Context, tx execQuerier, jobID string, a commands.RentAttempt) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO rent_attempts (job_id, server_id, sent_at, watch_until)
		VALUES (?, ?, ?, ?)`, jobID, a.ServerID, formatTime(a.SentAt), formatTime(a.Until))
	if err != nil {
		return fmt.Errorf("record create_order attempt: %w", err)
	}
	return nil
}

// settleAttempts marks the job's open attempts on serverID settled: Clore
// refused that create_order outright, so no order of it can appear.
func settleAttempts(ctx context.Context, tx execQuerier, jobID string, serverID int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE rent_attempts SET settled = 1
		WHERE job_id = ? AND server_id = ? AND settled = 0`, jobID, serverID)
	if err != nil {
		return fmt.Errorf("settle create_order attempts: %w", err)
	}
	return nil
}

// OpenRentAttempts lists the create_order attempts not settled and watched
// past now, oldest first, through rent_attempts_open_idx.
func (s *Store) OpenRentAttempts(ctx context.Context, now time.Time) ([]commands.RentAttempt, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT job_id, server_id, sent_at, watch_until
		FROM rent_attempts WHERE settled = 0 AND watch_until > ? ORDER BY sent_at, id`, formatTime(now))
	if err != nil {
		return nil, fmt.Errorf("storage: open rent attempts: %w", err)
	}
	defer rows.Close()
	var out []commands.RentAttempt
	for rows.Next() {
		var a commands.RentAttempt
		var sent, until string
		if err := rows.Scan(&a.JobID, &a.ServerID, &sent, &until); err != nil {
			return nil, fmt.Errorf("storage: open rent attempts: %w", err)
		}
		if a.SentAt, err = parseTime(sent); err != nil {
			return nil, fmt.Errorf("storage: open rent attempts: %w", err)
		}
		if a.Until, err = parseTime(until); err != nil {
			return nil, fmt.Errorf("storage: open rent attempts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: open rent attempts: %w", err)
	}
	return out, nil
}

// AdoptOrder inserts o linked to the rent job jobID and appends events, in
// one transaction: an order Clore showed late for one of the job's
// create_orders. A Clore order id another order has is an [ErrConflict];
// then nothing is written.
func (s *Store) AdoptOrder(ctx context.Context, o commands.Order, jobID string, events ...commands.Event) (commands.Order, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return o, fmt.Errorf("storage: adopt order: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	stored, err := insertOrder(ctx, tx, o, jobID, now)
	if err != nil {
		return o, fmt.Errorf("storage: adopt order: %w", err)
	}
	if _, err := appendEvents(ctx, tx, events, now); err != nil {
		return o, fmt.Errorf("storage: adopt order: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return o, fmt.Errorf("storage: adopt order: %w", err)
	}
	return stored, nil
}
