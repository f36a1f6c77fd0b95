package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/clorebot/clorebot/commands"
)

// SinkCursor returns the id of the last outbox event the sink handled. A
// sink without a cursor gets one at the newest event, in the same
// transaction: it starts with what happens from now on.
func (s *Store) SinkCursor(ctx context.Context, sink string) (int64, error) {
	var id int64
	err := s.read.QueryRowContext(ctx, `SELECT event_id FROM sink_cursors WHERE name = ?`, sink).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("storage: sink cursor %s: %w", sink, err)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("storage: sink cursor %s: %w", sink, err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO sink_cursors (name, event_id)
		SELECT CAST(? AS TEXT), coalesce(max(id), 0) FROM outbox WHERE true ON CONFLICT (name) DO NOTHING`, sink)
	if err != nil {
		return 0, fmt.Errorf("storage: sink cursor %s: %w", sink, err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT event_id FROM sink_cursors WHERE name = ?`, sink).Scan(&id); err != nil {
		return 0, fmt.Errorf("storage: sink cursor %s: %w", sink, err)
	}
	return id, tx.Commit()
}

// AdvanceSinkCursor moves the sink's cursor to eventID, never backwards.
func (s *Store) AdvanceSinkCursor(ctx context.Context, sink string, eventID int64) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO sink_cursors (name, event_id) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET event_id = excluded.event_id
		WHERE excluded.event_id > sink_cursors.event_id`, sink, eventID)
	if err != nil {
		return fmt.Errorf("storage: advance sink cursor %s: %w", sink, err)
	}
	return nil
}

// RentJobOfOrder returns the rent job that created the Clore order cloreID
// (the job whose checkpoint names it), or [ErrNotFound].
func (s *Store) RentJobOfOrder(ctx context.Context, cloreID int64) (commands.Job, error) {
	j, err := scanJob(s.read.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE kind = 'rent' AND `+s.sq(`json_extract(checkpoint, '$.clore_order_id') = ?`,
		`(checkpoint::jsonb ->> 'clore_order_id') = ?::bigint::text`)+`
		ORDER BY created_at LIMIT 1`, cloreID))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return commands.Job{}, fmt.Errorf("storage: rent job of order %d: %w", cloreID, err)
	}
	return j, nil
}

var _ commands.SinkStore = (*Store)(nil)
