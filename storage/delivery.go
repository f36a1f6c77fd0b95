package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// DeliveryFilter selects deliveries for [Store.ListDeliveries].
type DeliveryFilter struct {
	// FailedOnly keeps dead-lettered deliveries and pending ones whose last
	// attempt failed: the ones [Store.RetryFailedDeliveries] retries.
	FailedOnly bool
	Limit      int // 0 or less: no cap
}

// failedCondition is the SQL of DeliveryFilter.FailedOnly.
const failedCondition = `(d.state = 'dead' OR (d.state = 'pending' AND d.attempts > 0))`

const deliveryColumns = `d.id, d.event_id, o.type, o.data, o.created_at, d.url, d.secret_ref,
	d.message_id, d.state, d.attempts, d.next_at, d.last_attempt_at, d.last_status,
	d.last_error, d.delivered_at, d.created_at, d.updated_at`

const deliveryFrom = ` FROM deliveries d JOIN outbox o ON o.id = d.event_id`

// DeliveryCursor returns the id of the last outbox event fanned out into
// deliveries: the next fan-out starts after it. It is the 'webhook' row of
// the outbox sinks' cursors (see sink.go).
func (s *Store) DeliveryCursor(ctx context.Context) (int64, error) {
	var id int64
	err := s.read.QueryRowContext(ctx, `SELECT event_id FROM sink_cursors WHERE name = 'webhook'`).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storage: delivery cursor: %w", err)
	}
	return id, nil
}

// EnqueueDeliveries inserts ds as pending deliveries due at now and moves the
// fan-out cursor to upTo (never backwards), in one transaction. A delivery
// for an event and URL that already has one is skipped, keeping the stored
// message id, so a fan-out repeated after a crash or by a second process
// creates nothing twice. It returns how many deliveries it inserted.
func (s *Store) EnqueueDeliveries(ctx context.Context, upTo int64, ds []commands.NewDelivery, now time.Time) (int, error) {
	for i, d := range ds {
		if d.EventID <= 0 || d.EventID > upTo || d.URL == "" || d.SecretRef == "" || d.MessageID == "" {
			return 0, fmt.Errorf("storage: enqueue deliveries: delivery %d: want an event id up to %d, a URL, a secret reference and a message id", i, upTo)
		}
	}
	at := formatTime(now)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("storage: enqueue deliveries: %w", err)
	}
	defer tx.Rollback()
	inserted := 0
	for _, d := range ds {
		res, err := tx.ExecContext(ctx, `INSERT INTO deliveries (event_id, url, secret_ref,
			message_id, state, next_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)
			ON CONFLICT (event_id, url) DO NOTHING`,
			d.EventID, d.URL, d.SecretRef, d.MessageID, at, at, at)
		if err != nil {
			return 0, fmt.Errorf("storage: enqueue deliveries: event %d: %w", d.EventID, mapConstraint(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("storage: enqueue deliveries: %w", err)
		}
		inserted += int(n)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO sink_cursors (name, event_id) VALUES ('webhook', ?)
		ON CONFLICT (name) DO UPDATE SET event_id = excluded.event_id
		WHERE excluded.event_id > sink_cursors.event_id`, upTo)
	if err != nil {
		return 0, fmt.Errorf("storage: enqueue deliveries: advance cursor: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("storage: enqueue deliveries: %w", err)
	}
	return inserted, nil
}

// ClaimDueDeliveries returns at most limit pending deliveries due at now,
// earliest first, and moves their NextAt to until, in one transaction: until
// then no other dispatcher on the database claims them, and if this one dies
// before recording the attempt they fall due again at until. The returned
// deliveries keep the NextAt they were due at.
func (s *Store) ClaimDueDeliveries(ctx context.Context, now, until time.Time, limit int) ([]commands.Delivery, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("storage: claim due deliveries: limit must be positive, got %d", limit)
	}
	// Most ticks find nothing due: look on a reader first, so that they
	// never take the write lock.
	var found int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM deliveries
		WHERE state = 'pending' AND next_at <= ? LIMIT 1) AS due`, formatTime(now)).Scan(&found)
	if err != nil {
		return nil, fmt.Errorf("storage: claim due deliveries: %w", err)
	}
	if found == 0 {
		return nil, nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("storage: claim due deliveries: %w", err)
	}
	defer tx.Rollback()
	due, err := queryDeliveries(ctx, tx, `SELECT `+deliveryColumns+deliveryFrom+`
		WHERE d.state = 'pending' AND d.next_at <= ? ORDER BY d.next_at, d.id LIMIT ?`,
		formatTime(now), limit)
	if err != nil {
		return nil, fmt.Errorf("storage: claim due deliveries: %w", err)
	}
	for _, d := range due {
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_at = ? WHERE id = ?`, formatTime(until), d.ID)
		if err != nil {
			return nil, fmt.Errorf("storage: claim due deliveries: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("storage: claim due deliveries: %w", err)
	}
	return due, nil
}

// RecordDeliveryAttempt writes the outcome of an attempt on a pending
// delivery: attempts+1, the status and error, and the new state (pending at
// a.NextAt, delivered, or dead). A delivered ConnectionEvent is wiped, with
// its job's SSH password, in the same transaction. A delivery that is no longer pending (it was
// settled elsewhere meanwhile) is left alone; a missing one is
// [ErrNotFound].
func (s *Store) RecordDeliveryAttempt(ctx context.Context, a commands.DeliveryAttempt) error {
	if a.State != commands.DeliveryPending && a.State != commands.DeliveryDelivered && a.State != commands.DeliveryDead {
		return fmt.Errorf("storage: record delivery attempt %d: unknown state %q", a.ID, a.State)
	}
	at := formatTime(a.At)
	next := at
	if a.State == commands.DeliveryPending {
		next = formatTime(a.NextAt)
	}
	delivered := sql.NullString{}
	if a.State == commands.DeliveryDelivered {
		delivered = sql.NullString{String: at, Valid: true}
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: record delivery attempt %d: %w", a.ID, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, attempts = attempts + 1,
		next_at = ?, last_attempt_at = ?, last_status = ?, last_error = ?,
		delivered_at = coalesce(?, delivered_at), updated_at = ?
		WHERE id = ? AND state = 'pending'`,
		a.State, next, at, a.Status, a.Error, delivered, formatTime(s.now()), a.ID)
	if err != nil {
		return fmt.Errorf("storage: record delivery attempt %d: %w", a.ID, err)
	}
	if err := wantOneRow(res); errors.Is(err, ErrNotFound) {
		if err := deliveryExists(ctx, tx, a.ID); err != nil {
			return fmt.Errorf("storage: record delivery attempt %d: %w", a.ID, err)
		}
	} else if err != nil {
		return fmt.Errorf("storage: record delivery attempt %d: %w", a.ID, err)
	}
	wiped := false
	if a.State == commands.DeliveryDelivered {
		// Delivered connection details are wiped at once (secret.go).
		if wiped, err = wipeDelivered(ctx, tx, a.ID, s.pg); err != nil {
			return fmt.Errorf("storage: record delivery attempt %d: %w", a.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: record delivery attempt %d: %w", a.ID, err)
	}
	if wiped {
		s.checkpointAfterWipe(ctx)
	}
	return nil
}

// deliveryExists is ErrNotFound when there is no delivery id.
func deliveryExists(ctx context.Context, tx *sql.Tx, id int64) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// GetDelivery returns the delivery with id id, or [ErrNotFound].
func (s *Store) GetDelivery(ctx context.Context, id int64) (commands.Delivery, error) {
	ds, err := queryDeliveries(ctx, s.read, `SELECT `+deliveryColumns+deliveryFrom+` WHERE d.id = ?`, id)
	if err == nil && len(ds) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return commands.Delivery{}, fmt.Errorf("storage: get delivery %d: %w", id, err)
	}
	return ds[0], nil
}

// ListDeliveries returns deliveries newest first.
func (s *Store) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]commands.Delivery, error) {
	q := `SELECT ` + deliveryColumns + deliveryFrom
	if f.FailedOnly {
		q += ` WHERE ` + failedCondition
	}
	q += ` ORDER BY d.id DESC`
	var args []any
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	ds, err := queryDeliveries(ctx, s.read, q, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: list deliveries: %w", err)
	}
	return ds, nil
}

// RetryDelivery makes a dead-lettered or failing delivery due at now with a
// fresh schedule (attempts back to 0; the last status and error stay for
// reference). A delivered one is an [ErrConflict]: it is never sent again.
// Retrying a pending delivery that has not failed yet changes nothing.
func (s *Store) RetryDelivery(ctx context.Context, id int64, now time.Time) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: retry delivery %d: %w", id, err)
	}
	defer tx.Rollback()
	var state string
	err = tx.QueryRowContext(ctx, `SELECT state FROM deliveries WHERE id = ?`, id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("storage: retry delivery %d: %w", id, err)
	}
	if state == commands.DeliveryDelivered {
		return fmt.Errorf("storage: retry delivery %d: %w: it was delivered already", id, ErrConflict)
	}
	if _, err := retryWhere(ctx, tx, `d.id = ? AND `+failedCondition, now, s.now(), id); err != nil {
		return fmt.Errorf("storage: retry delivery %d: %w", id, err)
	}
	return tx.Commit()
}

// RetryFailedDeliveries retries, as [Store.RetryDelivery] does, every
// delivery that [DeliveryFilter].FailedOnly lists, and returns how many.
func (s *Store) RetryFailedDeliveries(ctx context.Context, now time.Time) (int, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("storage: retry failed deliveries: %w", err)
	}
	defer tx.Rollback()
	n, err := retryWhere(ctx, tx, failedCondition, now, s.now())
	if err != nil {
		return 0, fmt.Errorf("storage: retry failed deliveries: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("storage: retry failed deliveries: %w", err)
	}
	return n, nil
}

// retryWhere makes the deliveries d matching where due at now, afresh.
func retryWhere(ctx context.Context, tx *sql.Tx, where string, now, updated time.Time, args ...any) (int, error) {
	res, err := tx.ExecContext(ctx, `UPDATE deliveries AS d SET state = 'pending', attempts = 0,
		next_at = ?, updated_at = ? WHERE `+where,
		append([]any{formatTime(now), formatTime(updated)}, args...)...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// rowsQuerier is a pool or a transaction.
type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryDeliveries runs a SELECT of deliveryColumns.
func queryDeliveries(ctx context.Context, q rowsQuerier, query string, args ...any) ([]commands.Delivery, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []commands.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// scanDelivery reads one row of deliveryColumns.
func scanDelivery(sc scanner) (commands.Delivery, error) {
	var (
		d                                    commands.Delivery
		data, eventAt, next, created, update string
		last, delivered                      sql.NullString
	)
	err := sc.Scan(&d.ID, &d.EventID, &d.EventType, &data, &eventAt, &d.URL, &d.SecretRef,
		&d.MessageID, &d.State, &d.Attempts, &next, &last, &d.LastStatus, &d.LastError,
		&delivered, &created, &update)
	if err != nil {
		return commands.Delivery{}, err
	}
	d.EventData = json.RawMessage(data)
	for _, t := range []struct {
		dst *time.Time
		src string
	}{{&d.EventAt, eventAt}, {&d.NextAt, next}, {&d.CreatedAt, created}, {&d.UpdatedAt, update}} {
		if *t.dst, err = parseTime(t.src); err != nil {
			return commands.Delivery{}, err
		}
	}
	for _, t := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&d.LastAttemptAt, last}, {&d.DeliveredAt, delivered}} {
		p, err := parseNullTime(t.src)
		if err != nil {
			return commands.Delivery{}, err
		}
		if p != nil {
			*t.dst = *p
		}
	}
	return d, nil
}

// EnqueueReply appends an event of type eventType with data to the outbox and
// one delivery of it to url, due at now, in one transaction, and returns the
// delivery's id. It serves answers that go to one receiver only (the
// callback_url of a synchronous webhook request): the fan-out skips event
// types it does not deliver, so nobody else receives it. A messageID queued
// before returns that delivery's id and queues nothing.
func (s *Store) EnqueueReply(ctx context.Context, eventType string, data json.RawMessage, url, secretRef, messageID string, now time.Time) (int64, error) {
	if eventType == "" || url == "" || secretRef == "" || messageID == "" {
		return 0, fmt.Errorf("storage: enqueue reply: want an event type, a URL, a secret reference and a message id")
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("storage: enqueue reply: %w", err)
	}
	defer tx.Rollback()
	var id int64
	switch err := tx.QueryRowContext(ctx, `SELECT id FROM deliveries WHERE message_id = ?`, messageID).Scan(&id); {
	case err == nil:
		return id, nil // queued before: the same delivery
	case !errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("storage: enqueue reply: %w", err)
	}
	evs, err := appendEvents(ctx, tx, []commands.Event{{Type: eventType, Data: data, CreatedAt: now}}, now)
	if err != nil {
		return 0, fmt.Errorf("storage: enqueue reply: %w", err)
	}
	at := formatTime(now)
	err = tx.QueryRowContext(ctx, `INSERT INTO deliveries (event_id, url, secret_ref, message_id, state,
		next_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING id`,
		evs[0].ID, url, secretRef, messageID, at, at, at).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storage: enqueue reply: %w", mapConstraint(err))
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("storage: enqueue reply: %w", err)
	}
	return id, nil
}
