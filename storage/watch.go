package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/clorebot/clorebot/commands"
)

const watchColumns = `id, owner, platform, channel, reply_target, gpu_model,
	max_usd_per_gpu, count, auto_rent, expires_at, state, created_at, updated_at`

// CreateWatch inserts w and sets its ID, UpdatedAt and, when zero, CreatedAt
// (the store's clock). State is required.
func (s *Store) CreateWatch(ctx context.Context, w *commands.Watch) error {
	if err := checkWatch(*w); err != nil {
		return fmt.Errorf("storage: create watch: %w", err)
	}
	now := s.now()
	created := w.CreatedAt
	if created.IsZero() {
		created = now
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: create watch: %w", err)
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO watches (owner, platform, channel,
		reply_target, gpu_model, max_usd_per_gpu, count, auto_rent, expires_at, state,
		created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		w.Owner, w.Platform, w.Channel, w.ReplyTarget, w.GPUModel, w.MaxUSDPerGPU,
		w.Count, boolInt(w.AutoRent), formatNullTime(w.ExpiresAt), w.State,
		formatTime(created), formatTime(now)).Scan(&id)
	if err != nil {
		return fmt.Errorf("storage: create watch: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: create watch: %w", err)
	}
	w.ID, w.CreatedAt, w.UpdatedAt = id, created, now
	return nil
}

// checkWatch rejects a watch the store cannot hold.
func checkWatch(w commands.Watch) error {
	if w.State == "" {
		return errors.New("state is required")
	}
	return nil
}

// GetWatch returns the watch with id id, or [ErrNotFound].
func (s *Store) GetWatch(ctx context.Context, id int64) (commands.Watch, error) {
	w, err := scanWatch(s.read.QueryRowContext(ctx, `SELECT `+watchColumns+` FROM watches WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return commands.Watch{}, fmt.Errorf("storage: get watch %d: %w", id, err)
	}
	return w, nil
}

// ListWatches returns the watches of owner (every owner when empty) in one
// of states (any state when none is given), newest first.
func (s *Store) ListWatches(ctx context.Context, owner string, states ...string) ([]commands.Watch, error) {
	var where []string
	var args []any
	if owner != "" {
		where = append(where, `owner = ?`)
		args = append(args, owner)
	}
	if len(states) > 0 {
		where = append(where, `state IN (?`+strings.Repeat(`, ?`, len(states)-1)+`)`)
		for _, st := range states {
			args = append(args, st)
		}
	}
	q := `SELECT ` + watchColumns + ` FROM watches`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY created_at DESC, id DESC`
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: list watches: %w", err)
	}
	defer rows.Close()
	var out []commands.Watch
	for rows.Next() {
		w, err := scanWatch(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: list watches: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: list watches: %w", err)
	}
	return out, nil
}

// UpdateWatch overwrites every field of the watch with w.ID except CreatedAt
// and sets UpdatedAt to now. It returns [ErrNotFound] when there is no such
// watch.
func (s *Store) UpdateWatch(ctx context.Context, w commands.Watch) error {
	if err := checkWatch(w); err != nil {
		return fmt.Errorf("storage: update watch %d: %w", w.ID, err)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: update watch %d: %w", w.ID, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE watches SET owner = ?, platform = ?, channel = ?,
		reply_target = ?, gpu_model = ?, max_usd_per_gpu = ?, count = ?, auto_rent = ?,
		expires_at = ?, state = ?, updated_at = ?
		WHERE id = ?`,
		w.Owner, w.Platform, w.Channel, w.ReplyTarget, w.GPUModel, w.MaxUSDPerGPU,
		w.Count, boolInt(w.AutoRent), formatNullTime(w.ExpiresAt), w.State,
		formatTime(s.now()), w.ID)
	if err != nil {
		return fmt.Errorf("storage: update watch %d: %w", w.ID, err)
	}
	if err := wantOneRow(res); err != nil {
		return fmt.Errorf("storage: update watch %d: %w", w.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: update watch %d: %w", w.ID, err)
	}
	return nil
}

// scanWatch reads one row of watchColumns.
func scanWatch(sc scanner) (commands.Watch, error) {
	var (
		w                commands.Watch
		autoRent         int64
		expires          sql.NullString
		created, updated string
	)
	err := sc.Scan(&w.ID, &w.Owner, &w.Platform, &w.Channel, &w.ReplyTarget, &w.GPUModel,
		&w.MaxUSDPerGPU, &w.Count, &autoRent, &expires, &w.State, &created, &updated)
	if err != nil {
		return commands.Watch{}, err
	}
	w.AutoRent = autoRent != 0
	if w.ExpiresAt, err = parseNullTime(expires); err != nil {
		return commands.Watch{}, err
	}
	if w.CreatedAt, err = parseTime(created); err != nil {
		return commands.Watch{}, err
	}
	if w.UpdatedAt, err = parseTime(updated); err != nil {
		return commands.Watch{}, err
	}
	return w, nil
}
