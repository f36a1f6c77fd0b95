package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
)

const watchColumns = `id, owner, platform, channel, reply_target, gpu_model, models,
	max_usd_per_gpu, count, auto_rent, expires_at, state, idempotency_key,
	last_triggered_at, last_trigger_price, triggers, job_id, created_at, updated_at, owner_roles, rent, error`

// CreateWatch inserts w and sets its ID, UpdatedAt and, when zero, CreatedAt
// (the store's clock). State is required. When w.IdempotencyKey is set and a
// watch with that key exists, nothing is inserted: w becomes the stored watch
// and created is false.
//
// With limit > 0 a new watch is refused, in the same transaction, with a
// [*commands.WatchLimitError] when its owner has limit watches active or
// triggered already; a redelivery of a stored key is not counted.
func (s *Store) CreateWatch(ctx context.Context, w *commands.Watch, limit int) (created bool, err error) {
	if err := checkWatch(*w); err != nil {
		return false, fmt.Errorf("storage: create watch: %w", err)
	}
	models, err := encodeModels(w.Models)
	if err != nil {
		return false, fmt.Errorf("storage: create watch: %w", err)
	}
	roles, err := encodeModels(w.OwnerRoles) // a JSON array of strings, like models
	if err != nil {
		return false, fmt.Errorf("storage: create watch: %w", err)
	}
	now := s.now()
	createdAt := w.CreatedAt
	if createdAt.IsZero() {
		createdAt = now
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("storage: create watch: %w", err)
	}
	defer tx.Rollback()
	if w.IdempotencyKey != "" {
		stored, err := scanWatch(tx.QueryRowContext(ctx,
			`SELECT `+watchColumns+` FROM watches WHERE idempotency_key = ?`, w.IdempotencyKey))
		if err == nil {
			*w = stored
			return false, nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("storage: create watch: existing key: %w", err)
		}
	}
	if limit > 0 {
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM watches WHERE owner = ? AND state IN (?, ?)`,
			w.Owner, commands.WatchActive, commands.WatchTriggered).Scan(&active); err != nil {
			return false, fmt.Errorf("storage: create watch: count: %w", err)
		}
		if active >= limit {
			return false, &commands.WatchLimitError{Active: active, Limit: limit}
		}
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO watches (owner, platform, channel,
		reply_target, gpu_model, models, max_usd_per_gpu, count, auto_rent, expires_at,
		state, idempotency_key, last_triggered_at, last_trigger_price, triggers, job_id,
		created_at, updated_at, owner_roles, rent, error, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
		(SELECT coalesce(max(seq), 0) + 1 FROM watches))
		ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
		RETURNING id`,
		w.Owner, w.Platform, w.Channel, commands.FreshTarget(w.ReplyTarget, now), w.GPUModel, models, w.MaxUSDPerGPU,
		w.Count, boolInt(w.AutoRent), formatNullTime(w.ExpiresAt), w.State,
		nullString(w.IdempotencyKey), formatNullTime(w.LastTriggeredAt), nullFloat(w.LastTriggerPrice),
		w.Triggers, w.JobID, formatTime(createdAt), formatTime(now), roles, encodeRent(w.Rent), w.Error).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		stored, err := scanWatch(tx.QueryRowContext(ctx,
			`SELECT `+watchColumns+` FROM watches WHERE idempotency_key = ?`, w.IdempotencyKey))
		if err != nil {
			return false, fmt.Errorf("storage: create watch: existing key: %w", err)
		}
		*w = stored
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: create watch: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("storage: create watch: %w", err)
	}
	w.ID, w.CreatedAt, w.UpdatedAt = id, createdAt, now
	return true, nil
}

// checkWatch rejects a watch the store cannot hold.
func checkWatch(w commands.Watch) error {
	if w.State == "" {
		return errors.New("state is required")
	}
	return nil
}

func encodeModels(models []string) (string, error) {
	if models == nil {
		models = []string{}
	}
	b, err := json.Marshal(models)
	if err != nil {
		return "", fmt.Errorf("models: %w", err)
	}
	return string(b), nil
}

func nullFloat(v *float64) sql.NullFloat64 {
	if v == nil {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: *v, Valid: true}
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

// WatchChanges serves a reader that keeps the live watches in memory (the
// watch tick). With since 0 it returns the live watches (active or
// triggered); otherwise every watch written after the change number since,
// whatever its state, so that the reader drops the ones that ended. upTo is
// the change number the answer is current to: pass it as since next time.
// Change numbers grow in commit order (they are assigned under the write
// lock), so no write is ever skipped.
func (s *Store) WatchChanges(ctx context.Context, since int64) (ws []commands.Watch, upTo int64, err error) {
	if err := s.read.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM watches`).Scan(&upTo); err != nil {
		return nil, 0, fmt.Errorf("storage: watch changes: %w", err)
	}
	if upTo == since {
		return nil, upTo, nil
	}
	q := `SELECT ` + watchColumns + ` FROM watches WHERE seq > ? AND seq <= ?`
	if since == 0 {
		q += ` AND state IN ('` + commands.WatchActive + `', '` + commands.WatchTriggered + `')`
	}
	rows, err := s.read.QueryContext(ctx, q+` ORDER BY seq`, since, upTo)
	if err != nil {
		return nil, 0, fmt.Errorf("storage: watch changes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		w, err := scanWatch(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("storage: watch changes: %w", err)
		}
		ws = append(ws, w)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("storage: watch changes: %w", err)
	}
	return ws, upTo, nil
}

// SaveWatchPrices records a watch tick at `at` and the last prices it saw
// that changed since the previous tick, in one transaction.
func (s *Store) SaveWatchPrices(ctx context.Context, at time.Time, changed []commands.SeenPrice) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: save watch prices: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO watch_tick (id, at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET at = excluded.at`, formatTime(at)); err != nil {
		return fmt.Errorf("storage: save watch prices: %w", err)
	}
	if len(changed) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO watch_prices (model, count, usd_per_gpu, server_id, since, gone_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (model, count) DO UPDATE SET usd_per_gpu = excluded.usd_per_gpu,
			server_id = excluded.server_id, since = excluded.since, gone_at = excluded.gone_at`)
		if err != nil {
			return fmt.Errorf("storage: save watch prices: %w", err)
		}
		defer stmt.Close()
		for _, p := range changed {
			if _, err := stmt.ExecContext(ctx, p.Model, p.Count, p.USDPerGPU, p.ServerID,
				formatTime(p.Since), formatNullTime(p.GoneAt)); err != nil {
				return fmt.Errorf("storage: save watch prices: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: save watch prices: %w", err)
	}
	return nil
}

// WatchPrices returns every last price the watch tick recorded and when it
// last ran (zero: never).
func (s *Store) WatchPrices(ctx context.Context) (prices []commands.SeenPrice, lastTick time.Time, err error) {
	var at string
	err = s.read.QueryRowContext(ctx, `SELECT at FROM watch_tick WHERE id = 1`).Scan(&at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("storage: watch prices: %w", err)
	default:
		if lastTick, err = parseTime(at); err != nil {
			return nil, time.Time{}, fmt.Errorf("storage: watch prices: %w", err)
		}
	}
	rows, err := s.read.QueryContext(ctx, `SELECT model, count, usd_per_gpu, server_id, since, gone_at FROM watch_prices`)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("storage: watch prices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p commands.SeenPrice
		var since string
		var gone sql.NullString
		if err := rows.Scan(&p.Model, &p.Count, &p.USDPerGPU, &p.ServerID, &since, &gone); err != nil {
			return nil, time.Time{}, fmt.Errorf("storage: watch prices: %w", err)
		}
		if p.Since, err = parseTime(since); err == nil {
			p.GoneAt, err = parseNullTime(gone)
		}
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("storage: watch prices: %w", err)
		}
		prices = append(prices, p)
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("storage: watch prices: %w", err)
	}
	return prices, lastTick, nil
}

// UpdateWatch overwrites every field of the watch with w.ID except CreatedAt
// and IdempotencyKey, sets UpdatedAt to now and appends events to the outbox,
// in one transaction. It returns [ErrNotFound] when there is no such watch,
// and [ErrConflict] when w.UpdatedAt is set and the stored watch was
// changed since (a tick and a `watch cancel` never overwrite each other).
func (s *Store) UpdateWatch(ctx context.Context, w commands.Watch, events ...commands.Event) error {
	return s.updateWatch(ctx, w, nil, events)
}

// updateWatch is UpdateWatch with rec, when set, written in its
// transaction (ErrRepeated, nothing written, when recorded already).
func (s *Store) updateWatch(ctx context.Context, w commands.Watch, rec *commands.RequestRecord, events []commands.Event) error {
	if err := checkWatch(w); err != nil {
		return fmt.Errorf("storage: update watch %d: %w", w.ID, err)
	}
	models, err := encodeModels(w.Models)
	if err != nil {
		return fmt.Errorf("storage: update watch %d: %w", w.ID, err)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: update watch %d: %w", w.ID, err)
	}
	defer tx.Rollback()
	now := s.now()
	if rec != nil {
		if err := notRecorded(ctx, tx, *rec); err != nil {
			return fmt.Errorf("storage: update watch %d: %w", w.ID, err)
		}
	}
	seen := ""
	if !w.UpdatedAt.IsZero() {
		seen = formatTime(w.UpdatedAt)
	}
	res, err := tx.ExecContext(ctx, `UPDATE watches SET owner = ?, platform = ?, channel = ?,
		reply_target = ?, gpu_model = ?, models = ?, max_usd_per_gpu = ?, count = ?, auto_rent = ?,
		expires_at = ?, state = ?, last_triggered_at = ?, last_trigger_price = ?, triggers = ?,
		job_id = ?, updated_at = ?, rent = ?, error = ?,
		seq = (SELECT max(seq) + 1 FROM watches)
		WHERE id = ? AND (? = '' OR updated_at = ?)`,
		w.Owner, w.Platform, w.Channel, commands.FreshTarget(w.ReplyTarget, now), w.GPUModel, models, w.MaxUSDPerGPU,
		w.Count, boolInt(w.AutoRent), formatNullTime(w.ExpiresAt), w.State,
		formatNullTime(w.LastTriggeredAt), nullFloat(w.LastTriggerPrice), w.Triggers, w.JobID,
		formatTime(now), encodeRent(w.Rent), w.Error, w.ID, seen, seen)
	if err != nil {
		return fmt.Errorf("storage: update watch %d: %w", w.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		var exists int
		if err == nil {
			err = tx.QueryRowContext(ctx, `SELECT count(*) FROM watches WHERE id = ?`, w.ID).Scan(&exists)
		}
		switch {
		case err != nil:
		case exists == 0:
			err = ErrNotFound
		default:
			err = ErrConflict
		}
		return fmt.Errorf("storage: update watch %d: %w", w.ID, err)
	}
	if rec != nil {
		if err := recordRequest(ctx, tx, *rec, now); err != nil {
			return fmt.Errorf("storage: update watch %d: %w", w.ID, err)
		}
	}
	if _, err := appendEvents(ctx, tx, events, now); err != nil {
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
		w                 commands.Watch
		autoRent          int64
		models            string
		key               sql.NullString
		expires, lastTrig sql.NullString
		lastPrice         sql.NullFloat64
		created, updated  string
		roles             string
		rent              string
	)
	err := sc.Scan(&w.ID, &w.Owner, &w.Platform, &w.Channel, &w.ReplyTarget, &w.GPUModel, &models,
		&w.MaxUSDPerGPU, &w.Count, &autoRent, &expires, &w.State, &key,
		&lastTrig, &lastPrice, &w.Triggers, &w.JobID, &created, &updated, &roles, &rent, &w.Error)
	if err != nil {
		return commands.Watch{}, err
	}
	if err := json.Unmarshal([]byte(rent), &w.Rent); err != nil {
		return commands.Watch{}, fmt.Errorf("rent: %w", err)
	}
	w.AutoRent, w.IdempotencyKey = autoRent != 0, key.String
	if err := json.Unmarshal([]byte(models), &w.Models); err != nil {
		return commands.Watch{}, fmt.Errorf("models: %w", err)
	}
	if len(w.Models) == 0 {
		w.Models = nil
	}
	if err := json.Unmarshal([]byte(roles), &w.OwnerRoles); err != nil {
		return commands.Watch{}, fmt.Errorf("owner roles: %w", err)
	}
	if len(w.OwnerRoles) == 0 {
		w.OwnerRoles = nil
	}
	if lastPrice.Valid {
		w.LastTriggerPrice = &lastPrice.Float64
	}
	if w.ExpiresAt, err = parseNullTime(expires); err != nil {
		return commands.Watch{}, err
	}
	if w.LastTriggeredAt, err = parseNullTime(lastTrig); err != nil {
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

// encodeRent is the rent column of a watch.
func encodeRent(r commands.WatchRent) string {
	b, err := json.Marshal(r)
	if err != nil {
		return "{}" // plain fields always marshal
	}
	return string(b)
}
