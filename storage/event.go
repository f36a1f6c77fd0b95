package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// appendEvents inserts events into the outbox and returns them with ID set,
// CreatedAt defaulted to now and empty Data defaulted to "{}". Because every
// write goes through one immediate transaction at a time, ids are assigned in
// commit order: a reader paging with ListEvents never sees a smaller id
// appear after a larger one.
func appendEvents(ctx context.Context, tx rowQuerier, events []commands.Event, now time.Time) ([]commands.Event, error) {
	out := make([]commands.Event, 0, len(events))
	for i, e := range events {
		if e.Type == "" {
			return nil, fmt.Errorf("event %d: type is required", i)
		}
		if len(e.Data) == 0 {
			e.Data = json.RawMessage("{}")
		} else if !json.Valid(e.Data) {
			return nil, fmt.Errorf("event %d (%s): data is not valid JSON", i, e.Type)
		}
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		}
		err := tx.QueryRowContext(ctx, insertEventSQL, e.Type, nullString(e.JobID), nullInt64(e.OrderID), string(e.Data),
			formatTime(e.CreatedAt)).Scan(&e.ID)
		if err != nil {
			return nil, fmt.Errorf("event %d (%s): %w", i, e.Type, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// insertEventSQL appends one event to the outbox.
const insertEventSQL = `INSERT INTO outbox (type, job_id, order_id, data, created_at)
	VALUES (?, ?, ?, ?, ?) RETURNING id`

// ListEvents returns at most limit outbox events with ID > afterID, oldest
// first; a limit of 0 or less means no cap.
func (s *Store) ListEvents(ctx context.Context, afterID int64, limit int) ([]commands.Event, error) {
	q := `SELECT id, type, job_id, order_id, data, created_at FROM outbox WHERE id > ? ORDER BY id`
	args := []any{afterID}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: list events: %w", err)
	}
	defer rows.Close()
	var out []commands.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: list events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: list events: %w", err)
	}
	return out, nil
}

// scanEvent reads one outbox row.
func scanEvent(sc scanner) (commands.Event, error) {
	var (
		e             commands.Event
		jobID         sql.NullString
		orderID       sql.NullInt64
		data, created string
	)
	if err := sc.Scan(&e.ID, &e.Type, &jobID, &orderID, &data, &created); err != nil {
		return commands.Event{}, err
	}
	e.JobID = jobID.String
	if orderID.Valid {
		e.OrderID = &orderID.Int64
	}
	e.Data = json.RawMessage(data)
	var err error
	if e.CreatedAt, err = parseTime(created); err != nil {
		return commands.Event{}, err
	}
	return e, nil
}
