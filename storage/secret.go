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

// SSH passwords are kept only until they reach the requester (DESIGN.md
// §7): a rent job's params hold the generated password until create_order
// has used it and the connection details are delivered; a webhook rent's
// connection details wait in the outbox as one ConnectionEvent, either
// delivered to the request's callback_url or taken by the first signed GET
// of the job. Once delivered, taken, or 24 h old, they are wiped from the
// job and the outbox, and a delivery still pending is dead-lettered.
// Chat and CLI rents have no delivery that can be known to have arrived
// (an ephemeral message, a DM, a terminal): their succeeded job keeps the
// password for the 24 h, so that its renter can read it again with
// `status <order-id>` after a failed send or a crash.

// ConnectionEvent is the outbox event type that carries a rent's
// connection details (SSH password included) to its requester only: the
// command layer's [commands.EventOrderConnection].
const ConnectionEvent = commands.EventOrderConnection

// passwordPath is where a rent job's params hold the SSH password
// (commands' rentParams).
const passwordPath = "$.ssh_password"

// wipedData is what a wiped ConnectionEvent's data becomes.
func wipedData(jobID string) string {
	b, _ := json.Marshal(struct {
		JobID string `json:"job_id"`
		Wiped bool   `json:"wiped"`
	}{jobID, true})
	return string(b)
}

// EnqueueConnection stores a rent job's connection details as its one
// ConnectionEvent: with a url, together with one delivery of it (signed
// with secretRef, webhook-id messageID) due at now; without one, waiting
// for TakeConnection. A job that has a ConnectionEvent already gets nothing
// new (a resumed job queues its details once).
func (s *Store) EnqueueConnection(ctx context.Context, jobID string, data json.RawMessage, url, secretRef, messageID string, now time.Time) error {
	if jobID == "" || (url != "" && (secretRef == "" || messageID == "")) {
		return errors.New("storage: enqueue connection: want a job id, and with a URL a secret reference and a message id")
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: enqueue connection: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE type = ? AND job_id = ?`,
		ConnectionEvent, jobID).Scan(&n); err != nil {
		return fmt.Errorf("storage: enqueue connection: %w", err)
	}
	if n > 0 {
		return nil
	}
	evs, err := appendEvents(ctx, tx, []commands.Event{{Type: ConnectionEvent, JobID: jobID, Data: data, CreatedAt: now}}, now)
	if err != nil {
		return fmt.Errorf("storage: enqueue connection: %w", err)
	}
	if url != "" {
		at := formatTime(now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (event_id, url, secret_ref, message_id, state,
			next_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)`,
			evs[0].ID, url, secretRef, messageID, at, at, at); err != nil {
			return fmt.Errorf("storage: enqueue connection: %w", mapConstraint(err))
		}
	}
	return tx.Commit()
}

// TakeConnection returns the connection details of jobID that wait to be
// picked up, and wipes them and the job's password in the same
// transaction: only the first call gets them. ok is false when there are
// none (never stored, sent to a callback, taken or wiped).
func (s *Store) TakeConnection(ctx context.Context, jobID string) (data json.RawMessage, ok bool, err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("storage: take connection: %w", err)
	}
	defer tx.Rollback()
	var (
		id  int64
		raw string
	)
	err = tx.QueryRowContext(ctx, `SELECT o.id, o.data FROM outbox o WHERE o.type = ? AND o.job_id = ?
		AND `+s.sq(`json_extract(o.data, '$.wiped')`, `(o.data::jsonb -> 'wiped')`)+` IS NULL
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = o.id)`, ConnectionEvent, jobID).Scan(&id, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("storage: take connection: %w", err)
	}
	if err := wipeJob(ctx, tx, jobID, s.pg); err != nil {
		return nil, false, fmt.Errorf("storage: take connection: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("storage: take connection: %w", err)
	}
	s.checkpointAfterWipe(ctx)
	return json.RawMessage(raw), true, nil
}

// checkpointAfterWipe copies the WAL into the database and truncates it,
// so that the pages that held a wiped password do not linger in the WAL
// file (secure_delete zeroes them in the database). A TRUNCATE checkpoint
// reports a collision with another checkpoint (this process's background
// one is excluded by ckptMu; another process's is not) or with readers
// that outlast busy_timeout as busy=1 in its row, not as an error: it is
// retried a few times, and while it has not succeeded the background
// checkpointer keeps trying TRUNCATE instead of PASSIVE. It runs even when
// ctx ends: the wipe is committed and its frames must go.
//
// On PostgreSQL there is no WAL file of ours to truncate and it does
// nothing: the server keeps a wiped row's old version until VACUUM
// reclaims its space, and its WAL and backups as the operator keeps them
// (docs/postgresql.md).
func (s *Store) checkpointAfterWipe(ctx context.Context) {
	if s.pg {
		return
	}
	ctx = context.WithoutCancel(ctx)
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	deadline := time.Now().Add(wipeCheckpointBudget)
	for try := 1; ; try++ {
		if s.truncateWAL(ctx) {
			s.wipePending.Store(false)
			return
		}
		if try == wipeCheckpointTries || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Duration(try) * time.Millisecond)
	}
	s.wipePending.Store(true)
}

// checkpointAfterWipe tries at most wipeCheckpointTries times and starts no
// new try after wipeCheckpointBudget (a try that waits out busy_timeout on
// a long reader is not repeated).
const (
	wipeCheckpointTries  = 8
	wipeCheckpointBudget = 100 * time.Millisecond
)

// truncateWAL runs a TRUNCATE checkpoint and reports whether it completed
// (not busy). The caller holds ckptMu. It runs on a reader connection with
// a busy timeout of truncateBusyTimeout, not on the writer with 5 s: while a
// TRUNCATE waits for readers to leave the old frames it holds SQLite's
// write lock, so a long reader elsewhere (a backup, another process) must
// cost writers a few milliseconds, not the reader's whole life. Busy is
// retried later (checkpointAfterWipe, then the background checkpointer).
func (s *Store) truncateWAL(ctx context.Context) bool {
	conn, err := s.read.Conn(ctx)
	if err != nil {
		return false
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", truncateBusyTimeout.Milliseconds())); err != nil {
		return false
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA busy_timeout = 5000") }()
	var busy, frames, copied int
	err = conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied)
	return err == nil && busy == 0
}

// truncateBusyTimeout is how long one TRUNCATE checkpoint waits for
// readers (and so holds up writers) before it answers busy.
const truncateBusyTimeout = 25 * time.Millisecond

// wipeJob removes the SSH password from jobID's params and wipes the
// job's ConnectionEvents.
func wipeJob(ctx context.Context, tx *sql.Tx, jobID string, pg bool) error {
	var err error
	if pg {
		_, err = removePasswordsPG(ctx, tx, `id = ?`, jobID)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET params = json_remove(params, ?)
			WHERE id = ? AND json_extract(params, ?) IS NOT NULL`, passwordPath, jobID, passwordPath)
	}
	if err != nil {
		return fmt.Errorf("wipe job %s: %w", jobID, err)
	}
	wiped := `json_extract(data, '$.wiped')`
	if pg {
		wiped = `(data::jsonb -> 'wiped')`
	}
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET data = ? WHERE type = ? AND job_id = ?
		AND `+wiped+` IS NULL`, wipedData(jobID), ConnectionEvent, jobID); err != nil {
		return fmt.Errorf("wipe job %s: %w", jobID, err)
	}
	return nil
}

// wipeDelivered wipes the job of a delivered ConnectionEvent delivery and
// reports whether it was one.
func wipeDelivered(ctx context.Context, tx *sql.Tx, deliveryID int64, pg bool) (bool, error) {
	var jobID sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT o.job_id FROM deliveries d JOIN outbox o ON o.id = d.event_id
		WHERE d.id = ? AND o.type = ?`, deliveryID, ConnectionEvent).Scan(&jobID)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !jobID.Valid {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, wipeJob(ctx, tx, jobID.String, pg)
}

// WipeSecrets is the sweep behind "24 h at most": it wipes the password of
// every rent job created before `before`, and of every failed or cancelled
// job (they never need it); a succeeded job keeps it until `before` passes
// its creation (a webhook rent's is wiped sooner, when its details are
// delivered or taken), for its renter's `status <order-id>`. It wipes the
// ConnectionEvents created before `before` and dead-letters their pending
// deliveries. It returns how many jobs and events it wiped.
func (s *Store) WipeSecrets(ctx context.Context, before, now time.Time) (int, error) {
	b := formatTime(before)
	// A reader finds out first whether there is anything to do: most sweeps
	// find nothing and take no write lock.
	var found int
	jobsWhere, path, wiped := wipeJobsWhere, passwordPath, `json_extract(data, '$.wiped')`
	if s.pg {
		jobsWhere, path, wiped = wipeJobsWherePG, passwordKey, `(data::jsonb -> 'wiped')`
	}
	err := s.read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM jobs WHERE `+jobsWhere+`) +
		(SELECT count(*) FROM outbox WHERE type = ? AND created_at < ? AND `+wiped+` IS NULL)`,
		path, b, ConnectionEvent, b).Scan(&found)
	if err != nil || found == 0 {
		return 0, wrapErr("storage: wipe secrets", err)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("storage: wipe secrets: %w", err)
	}
	defer tx.Rollback()
	at := formatTime(now)
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'dead', next_at = ?, updated_at = ?,
		last_error = 'connection details wiped after 24 h undelivered'
		WHERE state = 'pending' AND event_id IN (SELECT id FROM outbox WHERE type = ? AND created_at < ?)`,
		at, at, ConnectionEvent, b); err != nil {
		return 0, fmt.Errorf("storage: wipe secrets: %w", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE outbox SET data = `+s.sq(`json_object('job_id', job_id, 'wiped', json('true'))`,
		`'{"job_id":' || coalesce(to_json(job_id)::text, 'null') || ',"wiped":true}'`)+`
		WHERE type = ? AND created_at < ? AND `+wiped+` IS NULL`, ConnectionEvent, b)
	if err != nil {
		return 0, fmt.Errorf("storage: wipe secrets: %w", err)
	}
	events, _ := res.RowsAffected()
	var jobs int64
	if s.pg {
		jobs, err = removePasswordsPG(ctx, tx, `created_at < ? OR state IN ('failed', 'cancelled')`, b)
	} else if res, err = tx.ExecContext(ctx, `UPDATE jobs SET params = json_remove(params, ?) WHERE `+wipeJobsWhere,
		path, path, b); err == nil {
		jobs, _ = res.RowsAffected()
	}
	if err != nil {
		return 0, fmt.Errorf("storage: wipe secrets: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("storage: wipe secrets: %w", err)
	}
	if events+jobs > 0 {
		s.checkpointAfterWipe(ctx)
	}
	return int(events + jobs), nil
}

// wipeJobsWhere selects the jobs whose password WipeSecrets removes; its
// parameters are passwordPath and the cut-off time.
const wipeJobsWhere = `json_extract(params, ?) IS NOT NULL AND (created_at < ? OR state IN ('failed', 'cancelled'))`

// wipeJobsWherePG is wipeJobsWhere on PostgreSQL; its first parameter is
// passwordKey.
const wipeJobsWherePG = `(params::jsonb -> ?::text) IS NOT NULL AND (created_at < ? OR state IN ('failed', 'cancelled'))`

// removePasswordsPG removes passwordKey from the params of the jobs that
// match where (and hold one) and returns how many it changed. The params
// are rewritten in Go, compact, as SQLite's json_remove leaves them: jsonb
// would print them with spaces of its own.
func removePasswordsPG(ctx context.Context, tx *sql.Tx, where string, args ...any) (int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, params FROM jobs WHERE (params::jsonb -> '`+passwordKey+`') IS NOT NULL
		AND (`+where+`) FOR UPDATE`, args...)
	if err != nil {
		return 0, err
	}
	wiped := map[string]string{}
	for rows.Next() {
		var id, params string
		if err := rows.Scan(&id, &params); err != nil {
			rows.Close()
			return 0, err
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(params), &m); err != nil {
			rows.Close()
			return 0, fmt.Errorf("job %s: params: %w", id, err)
		}
		delete(m, passwordKey)
		b, err := json.Marshal(m)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("job %s: params: %w", id, err)
		}
		wiped[id] = string(b)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	for id, params := range wiped {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET params = ? WHERE id = ?`, params, id); err != nil {
			return 0, err
		}
	}
	return int64(len(wiped)), nil
}

// passwordKey is passwordPath's key, for PostgreSQL's jsonb operators.
const passwordKey = "ssh_password"

// wrapErr wraps a non-nil err with op.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
