package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
)

const jobColumns = `id, kind, idempotency_key, state, step, requested_by, platform,
	channel, reply_target, reply_ref, params, checkpoint, result, error, attempts,
	lease_owner, lease_until, created_at, updated_at, usd_per_hour`

// leaseFree is the SQL condition under which a job's lease may be taken by
// anyone: nobody holds it, or it expired before the bound time.
const leaseFree = `(lease_owner = '' OR lease_until IS NULL OR lease_until < ?)`

// NewJobID returns a random, URL-safe job id: 128 bits from crypto/rand as 26
// lowercase base32 characters.
func NewJobID() string {
	return strings.ToLower(rand.Text())
}

// CreateJob inserts j unless a job with the same IdempotencyKey exists, and
// returns the stored job; created reports whether this call inserted it. An
// empty j.ID gets [NewJobID]; zero CreatedAt and UpdatedAt get the store's
// clock. Kind, IdempotencyKey and State are required, and Params, Checkpoint
// and Result must be valid JSON or empty (stored as NULL, read back as nil).
// The insert and the read back are one immediate transaction, so concurrent
// calls with one key, from any number of Stores on the file, create exactly
// one job and all return it. An id taken by a job with another key is an
// [ErrConflict].
func (s *Store) CreateJob(ctx context.Context, j commands.Job) (stored commands.Job, created bool, err error) {
	return s.CreateJobGuarded(ctx, j, nil)
}

// CreateJobGuarded is [Store.CreateJob] with the guardrails checked in the
// same immediate transaction: when no job has j's key, it counts
// [commands.Usage] for g and calls g.Check, whose error aborts the insert and
// is returned as is. The write lock is held from the count to the commit, so
// concurrent calls (from any process on the file) are checked one after the
// other. A nil g, or one without Check, counts nothing.
func (s *Store) CreateJobGuarded(ctx context.Context, j commands.Job, g *commands.Guard) (stored commands.Job, created bool, err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return commands.Job{}, false, fmt.Errorf("storage: create job: %w", err)
	}
	defer tx.Rollback()
	stored, created, refused, err := s.createJobTx(ctx, tx, j, g)
	switch {
	case refused != nil:
		return commands.Job{}, false, refused
	case err != nil:
		return commands.Job{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return commands.Job{}, false, fmt.Errorf("storage: create job: %w", err)
	}
	return stored, created, nil
}

// The statements that create a job (prepared on the writer, see intake.go).
const (
	jobByKeySQL  = `SELECT ` + jobColumns + ` FROM jobs WHERE idempotency_key = ?`
	insertJobSQL = `INSERT INTO jobs (` + jobColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (idempotency_key) DO NOTHING`
)

// execQuerier is a write transaction: a *sql.Tx, or the intake writer's
// preparedTx.
type execQuerier interface {
	rowQuerier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// createJobTx is CreateJobGuarded inside tx, for methods that write more in
// the same transaction (Intake: dedup record, job, audit row, outbox).
// refused is g.Check's error, as is (nothing was inserted); err, wrapped
// with the operation, is a failure.
func (s *Store) createJobTx(ctx context.Context, tx execQuerier, j commands.Job, g *commands.Guard) (stored commands.Job, created bool, refused, err error) {
	if j, err = s.newJob(j); err != nil {
		return commands.Job{}, false, nil, err
	}
	var quoted int64
	if g != nil && (g.Check != nil || g.Quote != nil) {
		existing, err := scanJob(tx.QueryRowContext(ctx, jobByKeySQL, j.IdempotencyKey))
		if err == nil {
			return existing, false, nil, nil // a duplicate gets the first job, unchecked
		} else if !errors.Is(err, sql.ErrNoRows) {
			return commands.Job{}, false, nil, fmt.Errorf("storage: create job: %w", err)
		}
		if q := g.Quote; q != nil {
			if quoted, refused, err = s.checkQuote(ctx, tx, q); refused != nil || err != nil {
				return commands.Job{}, false, refused, err
			}
		}
		if g.Check != nil {
			u, err := usage(ctx, tx, *g, s.pg)
			if err != nil {
				return commands.Job{}, false, nil, fmt.Errorf("storage: create job: %w", err)
			}
			if err := g.Check(u); err != nil {
				return commands.Job{}, false, err, nil
			}
		}
	}
	res, err := tx.ExecContext(ctx, insertJobSQL, jobArgs(nil, j)...)
	if err != nil {
		return commands.Job{}, false, nil, fmt.Errorf("storage: create job: %w", mapConstraint(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return commands.Job{}, false, nil, fmt.Errorf("storage: create job: %w", err)
	} else if n == 1 {
		if quoted != 0 {
			if err := s.recordQuote(ctx, tx, j.ID, quoted); err != nil {
				return commands.Job{}, false, nil, fmt.Errorf("storage: create job: %w", err)
			}
		}
		return storedJob(j), true, nil, nil
	}
	// The key exists: the first job is the answer.
	stored, err = scanJob(tx.QueryRowContext(ctx, jobByKeySQL, j.IdempotencyKey))
	if err != nil {
		return commands.Job{}, false, nil, fmt.Errorf("storage: create job: read back: %w", err)
	}
	return stored, false, nil, nil
}

// checkQuote checks in tx that the server q quoted is still free (unless
// q.Unchecked) and returns it, to be recorded with the job. When a rent
// committed since spoke for it, the job is refused with a
// *commands.QuoteTaken that says which of q's candidates are spoken for:
// the caller quotes again.
func (s *Store) checkQuote(ctx context.Context, tx rowQuerier, q *commands.QuoteCheck) (quoted int64, refused, err error) {
	if q.Quoted == 0 || q.Unchecked {
		return q.Quoted, nil, nil
	}
	spoken, err := s.spokenServers(ctx, tx, []int64{q.Quoted}, q.TakenSince)
	if err != nil {
		return 0, nil, fmt.Errorf("storage: create job: %w", err)
	}
	if !spoken[q.Quoted] {
		return q.Quoted, nil, nil
	}
	if spoken, err = s.spokenServers(ctx, tx, q.Candidates, q.TakenSince); err != nil {
		return 0, nil, fmt.Errorf("storage: create job: %w", err)
	}
	if spoken == nil {
		spoken = map[int64]bool{}
	}
	// The quoted server is spoken for whether or not it is among the
	// candidates: a quote made again must not land on it.
	spoken[q.Quoted] = true
	return 0, &commands.QuoteTaken{Server: q.Quoted, Spoken: spoken}, nil
}

// newJob checks j before its insert and fills in what CreateJob does: an
// id, and the store's clock for zero times.
func (s *Store) newJob(j commands.Job) (commands.Job, error) {
	if err := checkNewJob(j); err != nil {
		return commands.Job{}, fmt.Errorf("storage: create job: %w", err)
	}
	if j.ID == "" {
		j.ID = NewJobID()
	}
	now := s.now()
	if j.CreatedAt.IsZero() {
		j.CreatedAt = now
	}
	if j.UpdatedAt.IsZero() {
		j.UpdatedAt = now
	}
	return j, nil
}

// jobArgs appends to args the values of j's row, in jobColumns' order.
func jobArgs(args []any, j commands.Job) []any {
	return append(args, j.ID, j.Kind, j.IdempotencyKey, j.State, j.Step, j.RequestedBy, j.Platform,
		j.Channel, j.ReplyTarget, j.ReplyRef, nullJSON(j.Params), nullJSON(j.Checkpoint),
		nullJSON(j.Result), j.Error, j.Attempts, j.LeaseOwner, nullTime(j.LeaseUntil),
		formatTime(j.CreatedAt), formatTime(j.UpdatedAt), j.USDPerHour)
}

// storedJob is j as scanJob reads it back after its insert: times in UTC
// at the stored precision, empty JSON as nil.
func storedJob(j commands.Job) commands.Job {
	j.CreatedAt = roundTrip(j.CreatedAt)
	j.UpdatedAt = roundTrip(j.UpdatedAt)
	if !j.LeaseUntil.IsZero() {
		j.LeaseUntil = roundTrip(j.LeaseUntil)
	}
	for _, v := range []*json.RawMessage{&j.Params, &j.Checkpoint, &j.Result} {
		if len(*v) == 0 {
			*v = nil
		}
	}
	return j
}

// roundTrip is t as formatTime stores it and parseTime reads it back.
func roundTrip(t time.Time) time.Time {
	r, err := parseTime(formatTime(t))
	if err != nil {
		return t.UTC()
	}
	return r
}

// checkNewJob rejects a job CreateJob cannot store.
func checkNewJob(j commands.Job) error {
	switch {
	case j.Kind == "":
		return errors.New("kind is required")
	case j.IdempotencyKey == "":
		return errors.New("idempotency key is required")
	case j.State == "":
		return errors.New("state is required")
	}
	return checkJSON(map[string]json.RawMessage{
		"params": j.Params, "checkpoint": j.Checkpoint, "result": j.Result,
	})
}

// checkJSON rejects fields (by name) that are neither empty nor JSON, before
// SQLite's CHECK would, with a message that names the field.
func checkJSON(fields map[string]json.RawMessage) error {
	for name, v := range fields {
		if len(v) > 0 && !json.Valid(v) {
			return fmt.Errorf("%s is not valid JSON", name)
		}
	}
	return nil
}

// GetJob returns the job with id id, or [ErrNotFound].
func (s *Store) GetJob(ctx context.Context, id string) (commands.Job, error) {
	j, err := scanJob(s.read.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return commands.Job{}, fmt.Errorf("storage: get job %s: %w", id, err)
	}
	return j, nil
}

// JobByKey returns the job stored for idempotency key key, or
// [ErrNotFound].
func (s *Store) JobByKey(ctx context.Context, key string) (commands.Job, error) {
	j, err := scanJob(s.read.QueryRowContext(ctx, jobByKeySQL, key))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return commands.Job{}, fmt.Errorf("storage: job by key: %w", err)
	}
	return j, nil
}

// ClaimJob leases the job with id id to owner until until, and returns it,
// when nobody holds the lease, the lease expired before now, or owner already
// holds it (then the lease is extended or shortened to until). Otherwise it
// returns [ErrLeased], or [ErrNotFound] when there is no such job. The lease
// does not change UpdatedAt. On PostgreSQL now and until, on the caller's
// host clock, are stored on the database server's (hostToServer), as
// [Store.RenewLease] and [Store.ResumableJobs] read theirs.
func (s *Store) ClaimJob(ctx context.Context, id, owner string, now, until time.Time) (commands.Job, error) {
	if owner == "" {
		return commands.Job{}, fmt.Errorf("storage: claim job %s: owner is required", id)
	}
	off, _ := s.hostToServer()
	now, until = now.Add(off), until.Add(off)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return commands.Job{}, fmt.Errorf("storage: claim job %s: %w", id, err)
	}
	defer tx.Rollback()
	// On PostgreSQL the row is locked with SKIP LOCKED: under the write
	// lock no other transaction holds it, so nothing is skipped, but a
	// lease taken outside that lock could never wait on another's.
	j, err := scanJob(tx.QueryRowContext(ctx, s.sq(`UPDATE jobs SET lease_owner = ?, lease_until = ?
		WHERE id = ? AND (`+leaseFree+` OR lease_owner = ?)
		RETURNING `+jobColumns, `UPDATE jobs SET lease_owner = ?, lease_until = ?
		WHERE id = (SELECT id FROM jobs WHERE id = ? AND (`+leaseFree+` OR lease_owner = ?) FOR UPDATE SKIP LOCKED)
		RETURNING `+jobColumns),
		owner, formatTime(until), id, formatTime(now), owner))
	if errors.Is(err, sql.ErrNoRows) {
		err = missingOrLeased(ctx, tx, id)
	}
	if err != nil {
		return commands.Job{}, fmt.Errorf("storage: claim job %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return commands.Job{}, fmt.Errorf("storage: claim job %s: %w", id, err)
	}
	return j, nil
}

// missingOrLeased explains why a lease-guarded write matched no row.
func missingOrLeased(ctx context.Context, tx *sql.Tx, id string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return ErrLeased
}

// RenewLease moves the end of owner's lease on the job with id id to until,
// while owner still holds it: an expired lease that nobody else claimed
// counts, one another worker claimed or that was released does not
// ([ErrLeased]); [ErrNotFound] when there is no such job. Unlike
// [Store.ClaimJob] it never takes a lease, so a run that lost its lease
// cannot get it back after another worker finished the job.
func (s *Store) RenewLease(ctx context.Context, id, owner string, until time.Time) error {
	if owner == "" {
		return fmt.Errorf("storage: renew lease of job %s: owner is required", id)
	}
	off, _ := s.hostToServer()
	until = until.Add(off)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: renew lease of job %s: %w", id, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?`,
		formatTime(until), id, owner)
	if err != nil {
		return fmt.Errorf("storage: renew lease of job %s: %w", id, err)
	}
	if err := wantOneRow(res); errors.Is(err, ErrNotFound) {
		return fmt.Errorf("storage: renew lease of job %s: %w", id, missingOrLeased(ctx, tx, id))
	} else if err != nil {
		return fmt.Errorf("storage: renew lease of job %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: renew lease of job %s: %w", id, err)
	}
	return nil
}

// ReleaseJob drops owner's lease on the job with id id so that another
// worker may claim it at once. It does nothing when owner does not hold the
// lease (it expired and was taken, or was released already), and returns
// [ErrNotFound] when there is no such job.
func (s *Store) ReleaseJob(ctx context.Context, id, owner string) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: release job %s: %w", id, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_owner = '', lease_until = NULL
		WHERE id = ? AND lease_owner = ? AND lease_owner <> ''`, id, owner)
	if err != nil {
		return fmt.Errorf("storage: release job %s: %w", id, err)
	}
	if err := wantOneRow(res); errors.Is(err, ErrNotFound) {
		err = missingOrLeased(ctx, tx, id)
		if !errors.Is(err, ErrLeased) {
			return fmt.Errorf("storage: release job %s: %w", id, err)
		}
	} else if err != nil {
		return fmt.Errorf("storage: release job %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: release job %s: %w", id, err)
	}
	return nil
}

// resumableJobsSQL reads the queued and running jobs whose lease is free,
// oldest first: rent jobs through jobs_in_flight_idx, the other kinds
// through jobs_open_other_idx (0016_intake_btrees.sql), so that no index
// on the state alone is written by every accepted rent.
const resumableJobsSQL = `SELECT ` + jobColumns + ` FROM (
		SELECT ` + jobColumns + `, rowid AS r FROM jobs INDEXED BY jobs_in_flight_idx
		WHERE kind = 'rent' AND state IN ('` + commands.JobQueued + `', '` + commands.JobRunning + `') AND ` + leaseFree + `
		UNION ALL
		SELECT ` + jobColumns + `, rowid AS r FROM jobs INDEXED BY jobs_open_other_idx
		WHERE kind <> 'rent' AND state IN ('` + commands.JobQueued + `', '` + commands.JobRunning + `') AND ` + leaseFree + `
	) AS open ORDER BY created_at, r`

// ResumableJobs lists the queued or running jobs whose lease is free or
// expired at now, oldest first: the jobs a worker should claim and resume.
func (s *Store) ResumableJobs(ctx context.Context, now time.Time) ([]commands.Job, error) {
	off, _ := s.hostToServer()
	at := formatTime(now.Add(off))
	rows, err := s.read.QueryContext(ctx, resumableJobsSQL, at, at)
	if err != nil {
		return nil, fmt.Errorf("storage: resumable jobs: %w", err)
	}
	defer rows.Close()
	var out []commands.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: resumable jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: resumable jobs: %w", err)
	}
	return out, nil
}

// scanJob reads one row of jobColumns.
func scanJob(sc scanner) (commands.Job, error) {
	var (
		j                          commands.Job
		params, checkpoint, result sql.NullString
		leaseUntil                 sql.NullString
		created, updated           string
	)
	err := sc.Scan(&j.ID, &j.Kind, &j.IdempotencyKey, &j.State, &j.Step, &j.RequestedBy,
		&j.Platform, &j.Channel, &j.ReplyTarget, &j.ReplyRef, &params, &checkpoint,
		&result, &j.Error, &j.Attempts, &j.LeaseOwner, &leaseUntil, &created, &updated, &j.USDPerHour)
	if err != nil {
		return commands.Job{}, err
	}
	j.Params, j.Checkpoint, j.Result = rawJSON(params), rawJSON(checkpoint), rawJSON(result)
	if until, err := parseNullTime(leaseUntil); err != nil {
		return commands.Job{}, err
	} else if until != nil {
		j.LeaseUntil = *until
	}
	if j.CreatedAt, err = parseTime(created); err != nil {
		return commands.Job{}, err
	}
	if j.UpdatedAt, err = parseTime(updated); err != nil {
		return commands.Job{}, err
	}
	return j, nil
}

// nullJSON stores an empty JSON value as NULL.
func nullJSON(v json.RawMessage) sql.NullString {
	return sql.NullString{String: string(v), Valid: len(v) > 0}
}

// rawJSON reads a nullable JSON column; NULL is nil.
func rawJSON(v sql.NullString) json.RawMessage {
	if !v.Valid {
		return nil
	}
	return json.RawMessage(v.String)
}

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: formatTime(t), Valid: true}
}

// SaveJob writes u in one transaction, all or nothing: the job's State, Step,
// Checkpoint, Result, Error, Attempts, ReplyRef and USDPerHour (UpdatedAt
// becomes now);
// u.Order, inserted and linked to the job when its ID is 0, else updated;
// and u.Events, appended to the outbox. It fails with [ErrLeased] unless owner
// holds the job's lease (an expired lease that nobody else claimed still
// counts), [ErrNotFound] for a missing job or order, and [ErrConflict] when
// the order's Clore order id belongs to another order. On success it sets
// u.Job.UpdatedAt, u.Order's ID and times, and each event's ID, CreatedAt
// (when zero) and Data (when empty, "{}"). When u.Guard has a Check, the
// guardrails are counted in the same transaction and its error aborts the
// write, returned as is.
func (s *Store) SaveJob(ctx context.Context, owner string, u *commands.JobUpdate) error {
	id := u.Job.ID
	err := checkJSON(map[string]json.RawMessage{"checkpoint": u.Job.Checkpoint, "result": u.Job.Result})
	if err != nil {
		return fmt.Errorf("storage: save job %s: %w", id, err)
	}
	if u.Job.State == "" {
		return fmt.Errorf("storage: save job %s: state is required", id)
	}
	now := s.now()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: save job %s: %w", id, err)
	}
	defer tx.Rollback()
	if err := updateLeasedJob(ctx, tx, owner, u.Job, now); err != nil {
		return fmt.Errorf("storage: save job %s: %w", id, err)
	}
	if g := u.Guard; g != nil && g.Check != nil {
		us, err := usage(ctx, tx, *g, s.pg)
		if err != nil {
			return fmt.Errorf("storage: save job %s: %w", id, err)
		}
		if err := g.Check(us); err != nil {
			return err
		}
	}
	if u.Hold != nil {
		if err := holdServer(ctx, tx, id, *u.Hold, now); err != nil {
			return err
		}
	} else if err := endHold(ctx, tx, id, u.Took, now); err != nil {
		return fmt.Errorf("storage: save job %s: %w", id, err)
	}
	if a := u.Attempt; a != nil {
		if err := recordAttempt(ctx, tx, id, *a); err != nil {
			return fmt.Errorf("storage: save job %s: %w", id, err)
		}
	}
	if u.Settle != 0 {
		if err := settleAttempts(ctx, tx, id, u.Settle); err != nil {
			return fmt.Errorf("storage: save job %s: %w", id, err)
		}
	}
	var order Order
	if u.Order != nil {
		order = *u.Order
		if order.ID == 0 {
			order, err = insertOrder(ctx, tx, order, id, now)
		} else {
			err = updateOrder(ctx, tx, order, now)
			order.UpdatedAt = now
		}
		if err != nil {
			return fmt.Errorf("storage: save job %s: order: %w", id, err)
		}
	}
	events, err := appendEvents(ctx, tx, u.Events, now)
	if err != nil {
		return fmt.Errorf("storage: save job %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: save job %s: %w", id, err)
	}
	u.Job.UpdatedAt = now
	if u.Order != nil {
		*u.Order = order
	}
	copy(u.Events, events)
	return nil
}

// updateLeasedJob writes j's mutable fields when owner holds its lease.
func updateLeasedJob(ctx context.Context, tx *sql.Tx, owner string, j commands.Job, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, step = ?, checkpoint = ?,
		result = ?, error = ?, attempts = ?, reply_ref = ?, updated_at = ?, usd_per_hour = ?
		WHERE id = ? AND lease_owner = ? AND lease_owner <> ''`,
		j.State, j.Step, nullJSON(j.Checkpoint), nullJSON(j.Result), j.Error, j.Attempts,
		j.ReplyRef, formatTime(now), j.USDPerHour, j.ID, owner)
	if err != nil {
		return err
	}
	if err := wantOneRow(res); errors.Is(err, ErrNotFound) {
		return missingOrLeased(ctx, tx, j.ID)
	} else if err != nil {
		return err
	}
	return nil
}
