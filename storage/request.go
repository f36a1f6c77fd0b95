package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// notRecorded fails with [commands.ErrRepeated] when rec's request is
// recorded already. Inside the caller's write transaction (immediate: the
// database's one writer), nothing can record it between this read and the
// caller's recordRequest.
func notRecorded(ctx context.Context, tx rowQuerier, rec commands.RequestRecord) error {
	if rec.Key == "" || rec.Actor == "" {
		return errors.New("request record: key and actor are required")
	}
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM request_answers WHERE key = ? AND actor = ?`, rec.Key, rec.Actor).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("request record: %w", err)
	}
	return commands.ErrRepeated
}

// recordRequest writes rec inside the caller's transaction; a record of the
// same request is [commands.ErrRepeated].
func recordRequest(ctx context.Context, tx execQuerier, rec commands.RequestRecord, now time.Time) error {
	at := rec.At
	if at.IsZero() {
		at = now
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO request_answers (key, actor, command, answer, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (key, actor) DO NOTHING`, rec.Key, rec.Actor, rec.Command, rec.Answer, formatTime(at))
	if err != nil {
		return fmt.Errorf("request record: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("request record: %w", err)
	} else if n == 0 {
		return commands.ErrRepeated
	}
	return nil
}

// RequestAnswer returns the record of the request key made by actor, or
// [ErrNotFound]. It reads without the writer.
func (s *Store) RequestAnswer(ctx context.Context, key, actor string) (commands.RequestRecord, error) {
	r := commands.RequestRecord{Key: key, Actor: actor}
	var at string
	err := s.read.QueryRowContext(ctx, `SELECT command, answer, created_at FROM request_answers
		WHERE key = ? AND actor = ?`, key, actor).Scan(&r.Command, &r.Answer, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("storage: request answer: %w", ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("storage: request answer: %w", err)
	}
	if r.At, err = parseTime(at); err != nil {
		return r, fmt.Errorf("storage: request answer: %w", err)
	}
	return r, nil
}

// PurgeRequests deletes the request records written before `before` and
// returns how many it deleted.
func (s *Store) PurgeRequests(ctx context.Context, before time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM request_answers WHERE created_at < ?`, formatTime(before))
	if err != nil {
		return 0, fmt.Errorf("storage: purge request records: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("storage: purge request records: %w", err)
	}
	return int(n), nil
}

// ExtendOrder writes o, an order with a later end, when the stored order
// is still running with the end wantEnd (else [ErrConflict]), appending
// events and writing rec, in one transaction. When rec's request is
// recorded already nothing is written and the error wraps
// [commands.ErrRepeated].
func (s *Store) ExtendOrder(ctx context.Context, o Order, wantEnd time.Time, rec commands.RequestRecord, events ...commands.Event) error {
	return s.updateOrderTx(ctx, o, func(tx *sql.Tx) error {
		if err := notRecorded(ctx, tx, rec); err != nil {
			return err
		}
		if err := orderIs(ctx, tx, o.ID, commands.OrderRunning, &wantEnd); err != nil {
			return err
		}
		return recordRequest(ctx, tx, rec, s.now())
	}, events)
}

// CancelWatch is UpdateWatch of w (its state cancelled) with rec written
// in the same transaction; when rec's request is recorded already nothing
// is written and the error wraps [commands.ErrRepeated].
func (s *Store) CancelWatch(ctx context.Context, w commands.Watch, rec commands.RequestRecord) error {
	if w.State != commands.WatchCancelled {
		return fmt.Errorf("storage: cancel watch %d: state %q is not %q", w.ID, w.State, commands.WatchCancelled)
	}
	return s.updateWatch(ctx, w, &rec, nil)
}

// The wipe of expired reply-target parts (commands.ExpiringTarget): rows
// are found through the partial indexes of 0022 (the WHERE repeats their
// condition so that SQLite uses them), and the part from the separator on
// is cut when its fixed-width expiry is not after ?1.
const wipeTargetsSQL = `UPDATE %s SET reply_target = substr(reply_target, 1, instr(reply_target, char(31)) - 1)
	WHERE instr(reply_target, char(31)) > 0
	AND substr(reply_target, instr(reply_target, char(31)) + 1, 12) <= ?1`

// wipeTargetsSQLPG is wipeTargetsSQL on PostgreSQL (strpos, chr).
const wipeTargetsSQLPG = `UPDATE %s SET reply_target = substr(reply_target, 1, strpos(reply_target, chr(31)) - 1)
	WHERE strpos(reply_target, chr(31)) > 0
	AND substr(reply_target, strpos(reply_target, chr(31)) + 1, 12) <= ?1`

// WipeReplyTargets drops the expiring part of every stored reply target
// (jobs, orders, watches) that expired at now, and returns how many
// targets it changed.
func (s *Store) WipeReplyTargets(ctx context.Context, now time.Time) (int, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("storage: wipe reply targets: %w", err)
	}
	defer tx.Rollback()
	total := 0
	for _, table := range []string{"jobs", "orders", "watches"} {
		res, err := tx.ExecContext(ctx, fmt.Sprintf(s.sq(wipeTargetsSQL, wipeTargetsSQLPG), table), commands.TargetExpiry(now))
		if err != nil {
			return 0, fmt.Errorf("storage: wipe reply targets of %s: %w", table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("storage: wipe reply targets of %s: %w", table, err)
		}
		total += int(n)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("storage: wipe reply targets: %w", err)
	}
	return total, nil
}

// ClaimReplay records key (a signed chat request: its signature, its
// interaction id) until `until` and reports whether it is new: not
// recorded, or recorded with an expiry not after now. Concurrent calls for
// one key, from any process on the database, see one first.
func (s *Store) ClaimReplay(ctx context.Context, key string, now, until time.Time) (bool, error) {
	if key == "" {
		return false, errors.New("storage: claim replay: key is required")
	}
	res, err := s.write.ExecContext(ctx, `INSERT INTO request_replays (key, expires_at) VALUES (?1, ?2)
		ON CONFLICT (key) DO UPDATE SET expires_at = ?2 WHERE request_replays.expires_at <= ?3`,
		key, formatTime(until), formatTime(now))
	if err != nil {
		return false, fmt.Errorf("storage: claim replay: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("storage: claim replay: %w", err)
	}
	return n == 1, nil
}

// PurgeReplays deletes the replay records expired at now and returns how
// many it deleted.
func (s *Store) PurgeReplays(ctx context.Context, now time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM request_replays WHERE expires_at <= ?`, formatTime(now))
	if err != nil {
		return 0, fmt.Errorf("storage: purge replays: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("storage: purge replays: %w", err)
	}
	return int(n), nil
}
