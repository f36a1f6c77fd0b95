package storage

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ClaimWebhook records an inbound webhook message (key name, message id)
// with the hash of its request the first time it is seen, and reports
// whether this call is the first. For a known message it returns the stored
// hash, status and answer; status is 0 while the first delivery is being
// processed. A record still at status 0 whose claim is older than
// staleBefore was left by a delivery that died: when its hash equals
// bodyHash, this call takes the claim over and is the first. Concurrent
// calls for one message, from any number of Stores on the file, see exactly
// one first. now is recorded as the creation and claim time.
func (s *Store) ClaimWebhook(ctx context.Context, key, id string, bodyHash []byte, now, staleBefore time.Time) (first bool, storedHash []byte, status int, answer []byte, err error) {
	if key == "" || id == "" || len(bodyHash) == 0 {
		return false, nil, 0, nil, errors.New("storage: claim webhook: key, id and hash are required")
	}
	// A duplicate usually finds the record with a read, without queueing
	// behind the single writer.
	rec, err := getWebhook(ctx, s.read, key, id)
	switch {
	case err == nil && !rec.takeOver(bodyHash, staleBefore):
		return false, rec.hash, rec.status, rec.answer, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return false, nil, 0, nil, fmt.Errorf("storage: claim webhook: %w", err)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return false, nil, 0, nil, fmt.Errorf("storage: claim webhook: %w", err)
	}
	defer tx.Rollback()
	ts := formatTime(now)
	res, err := tx.ExecContext(ctx, `INSERT INTO webhook_requests (key, id, body_hash, created_at, claimed_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (key, id) DO NOTHING`, key, id, bodyHash, ts, ts)
	if err != nil {
		return false, nil, 0, nil, fmt.Errorf("storage: claim webhook: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, nil, 0, nil, fmt.Errorf("storage: claim webhook: %w", err)
	} else if n == 1 {
		if err := tx.Commit(); err != nil {
			return false, nil, 0, nil, fmt.Errorf("storage: claim webhook: %w", err)
		}
		return true, nil, 0, nil, nil
	}
	rec, err = getWebhook(ctx, tx, key, id)
	if err != nil {
		return false, nil, 0, nil, fmt.Errorf("storage: claim webhook: %w", err)
	}
	if !rec.takeOver(bodyHash, staleBefore) {
		return false, rec.hash, rec.status, rec.answer, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE webhook_requests SET claimed_at = ? WHERE key = ? AND id = ?`, ts, key, id); err != nil {
		return false, nil, 0, nil, fmt.Errorf("storage: claim webhook: take over: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, nil, 0, nil, fmt.Errorf("storage: claim webhook: %w", err)
	}
	return true, nil, 0, nil, nil
}

// LookupWebhook reads the record of an inbound webhook message without
// claiming it: found is false for an unknown message; else its request
// hash, status (0 while the first delivery is processed) and answer. It
// reads without the writer.
func (s *Store) LookupWebhook(ctx context.Context, key, id string) (found bool, storedHash []byte, status int, answer []byte, err error) {
	rec, err := getWebhook(ctx, s.read, key, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil, 0, nil, nil
	case err != nil:
		return false, nil, 0, nil, fmt.Errorf("storage: look up webhook: %w", err)
	}
	return true, rec.hash, rec.status, rec.answer, nil
}

// webhookRecord is one row of webhook_requests.
type webhookRecord struct {
	hash    []byte
	status  int
	answer  []byte
	claimed time.Time
}

// takeOver reports whether a claim was abandoned by a delivery that died.
func (r webhookRecord) takeOver(hash []byte, staleBefore time.Time) bool {
	return r.status == 0 && r.claimed.Before(staleBefore) && bytes.Equal(r.hash, hash)
}

// webhookByIDSQL reads one dedup record.
const webhookByIDSQL = `SELECT body_hash, status, answer, claimed_at FROM webhook_requests
	WHERE key = ? AND id = ?`

func getWebhook(ctx context.Context, q querier, key, id string) (webhookRecord, error) {
	var (
		r       webhookRecord
		claimed string
	)
	err := q.QueryRowContext(ctx, webhookByIDSQL, key, id).Scan(&r.hash, &r.status, &r.answer, &claimed)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	r.claimed, err = parseTime(claimed)
	return r, err
}

// FinishWebhook stores the answer (HTTP status and body) of a claimed
// message. A message already answered keeps its first answer; an unknown
// one is [ErrNotFound].
func (s *Store) FinishWebhook(ctx context.Context, key, id string, status int, answer []byte, now time.Time) error {
	if status < 100 || status > 599 {
		return fmt.Errorf("storage: finish webhook: status %d is not an HTTP status", status)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: finish webhook: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE webhook_requests SET status = ?, answer = ?, finished_at = ?
		WHERE key = ? AND id = ? AND status = 0`, status, answer, formatTime(now), key, id)
	if err != nil {
		return fmt.Errorf("storage: finish webhook: %w", err)
	}
	if err := wantOneRow(res); errors.Is(err, ErrNotFound) {
		if _, err := getWebhook(ctx, tx, key, id); err != nil {
			return fmt.Errorf("storage: finish webhook: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("storage: finish webhook: %w", err)
	}
	return tx.Commit()
}

// ForgetWebhook deletes a claimed message that has no answer yet, so that a
// retry is processed afresh. Answered or unknown messages are left alone.
func (s *Store) ForgetWebhook(ctx context.Context, key, id string) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: forget webhook: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_requests WHERE key = ? AND id = ? AND status = 0`, key, id); err != nil {
		return fmt.Errorf("storage: forget webhook: %w", err)
	}
	return tx.Commit()
}

// purgeWebhooksSQL deletes the records older than ?1 written before the
// first younger one that is not dated after ?2 (now, and a minute): a
// record from a clock that ran ahead is kept until it is old, but does not
// keep the records written after it.
const purgeWebhooksSQL = `DELETE FROM webhook_requests
	WHERE rowid < coalesce((SELECT rowid FROM webhook_requests WHERE created_at >= ?1 AND created_at <= ?2
		ORDER BY rowid LIMIT 1), 4611686018427387904)
	AND created_at < ?1`

// purgeFutureSlack is how far past the store's clock a record's time may
// be and still stop a purge.
const purgeFutureSlack = time.Minute

// PurgeWebhooks deletes the messages first seen before `before` and returns
// how many it deleted. It deletes the oldest records in the order they were
// written, up to the first one seen at or after `before` (the table keeps
// no index on the time: see 0016_intake_btrees.sql), so its cost is the
// rows it deletes. Records are written in the order they are seen; one
// written after a younger one (a clock stepped back) is deleted with a
// later purge, once that one is old too, and is only kept longer. A record
// dated more than purgeFutureSlack after the store's clock does not stop
// the purge.
func (s *Store) PurgeWebhooks(ctx context.Context, before time.Time) (int, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("storage: purge webhooks: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, purgeWebhooksSQL, formatTime(before), formatTime(s.now().Add(purgeFutureSlack)))
	if err != nil {
		return 0, fmt.Errorf("storage: purge webhooks: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("storage: purge webhooks: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("storage: purge webhooks: %w", err)
	}
	return int(n), nil
}
