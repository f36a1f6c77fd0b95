package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// MarkOrderReminded records that the order.expiring reminder for the order
// with local id id and end `end` is sent, appending events in the same
// transaction. It returns false, appending nothing, when that reminder was
// recorded before: one reminder per order end, whatever restarts happen.
func (s *Store) MarkOrderReminded(ctx context.Context, id int64, end time.Time, events ...commands.Event) (bool, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("storage: mark order %d reminded: %w", id, err)
	}
	defer tx.Rollback()
	at := formatTime(end)
	res, err := tx.ExecContext(ctx, `UPDATE orders SET reminded_for = ?
		WHERE id = ? AND (reminded_for IS NULL OR reminded_for <> ?)`, at, id, at)
	if err != nil {
		return false, fmt.Errorf("storage: mark order %d reminded: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	if _, err := appendEvents(ctx, tx, events, s.now()); err != nil {
		return false, fmt.Errorf("storage: mark order %d reminded: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("storage: mark order %d reminded: %w", id, err)
	}
	return true, nil
}

// LastEventAt returns when the newest outbox event of type typ was written,
// or the zero time when there is none.
func (s *Store) LastEventAt(ctx context.Context, typ string) (time.Time, error) {
	var at sql.NullString
	err := s.read.QueryRowContext(ctx, `SELECT created_at FROM outbox WHERE type = ? ORDER BY id DESC LIMIT 1`, typ).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !at.Valid {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("storage: last %s event: %w", typ, err)
	}
	t, err := parseTime(at.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("storage: last %s event: %w", typ, err)
	}
	return t, nil
}

// AppendEvents writes events to the outbox on their own, in one transaction.
func (s *Store) AppendEvents(ctx context.Context, events ...commands.Event) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: append events: %w", err)
	}
	defer tx.Rollback()
	if _, err := appendEvents(ctx, tx, events, s.now()); err != nil {
		return fmt.Errorf("storage: append events: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: append events: %w", err)
	}
	return nil
}
