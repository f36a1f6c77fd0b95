package storage

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// Store implements the command layer's one-transaction intake.
var _ commands.IntakeStore = (*Store)(nil)

// intakeMaxBatch bounds how many units one intake transaction commits.
const intakeMaxBatch = 64

// intakeQueue bounds how many units wait for the writer without blocking
// their callers' send.
const intakeQueue = 2 * intakeMaxBatch

// ErrClosed is returned by Intake once the Store is closing.
var ErrClosed = errors.New("storage: closed")

// Intake runs u in one write transaction and returns once it is committed
// (see [commands.IntakeStore]): the dedup record (webhook_requests), the job
// with its guardrails checked, the audit row, the outbox events, and the
// answer recorded under the dedup ids, all or nothing.
//
// Group commit: one writer goroutine takes the units of every caller waiting
// when it is free and commits them in one transaction; a caller is answered
// after the COMMIT that holds its unit. The first attempt writes each
// table's rows with one multi-row INSERT (intakerows.go); when a unit fails
// (a duplicate job id, a bad event, a key recorded before), the batch runs
// again with each unit in a SAVEPOINT of its own, so that the failed unit
// is rolled back alone and the others commit (see commit). Units of one
// transaction run one after the other, so each sees the ones before it:
// concurrent deliveries of one message id give one job and one recorded
// answer, and a guardrail counts the jobs accepted earlier in the batch.
// The hot statements are prepared once on the writer connection.
//
// Once the unit is handed to the writer, Intake waits for its outcome
// whatever becomes of ctx: the outcome it returns is the one committed. A
// unit whose ctx ended before the writer took it up is skipped.
func (s *Store) Intake(ctx context.Context, u commands.IntakeUnit) (commands.IntakeResult, error) {
	if err := checkIntake(u); err != nil {
		return commands.IntakeResult{}, fmt.Errorf("storage: intake: %w", err)
	}
	w := s.intake
	w.start(s)
	c := s.newIntakeCall(ctx, u)
	select {
	case <-w.quit:
		return commands.IntakeResult{}, fmt.Errorf("storage: intake: %w", ErrClosed)
	default:
	}
	select {
	case w.calls <- c:
	case <-w.quit:
		return commands.IntakeResult{}, fmt.Errorf("storage: intake: %w", ErrClosed)
	case <-ctx.Done():
		return commands.IntakeResult{}, fmt.Errorf("storage: intake: %w", ctx.Err())
	}
	select {
	case <-c.done:
	case <-w.done:
		// The writer returned. It answers every unit it took before
		// that, so a unit not answered yet was left in the queue.
		select {
		case <-c.done:
		default:
			return commands.IntakeResult{}, fmt.Errorf("storage: intake: %w", ErrClosed)
		}
	}
	if c.err != nil {
		return commands.IntakeResult{}, fmt.Errorf("storage: intake: %w", c.err)
	}
	return c.res, nil
}

// checkIntake rejects a unit the writer cannot run.
func checkIntake(u commands.IntakeUnit) error {
	if d := u.Dedup; d != nil {
		if d.Key == "" || len(d.IDs) == 0 || len(d.Hash) == 0 {
			return errors.New("dedup: key, ids and hash are required")
		}
		for _, id := range d.IDs {
			if id == "" {
				return errors.New("dedup: empty id")
			}
		}
	}
	if u.Job == nil && u.Guard != nil {
		return errors.New("a guard without a job")
	}
	return nil
}

// newIntakeCall is u on its way to the writer, its job's row worked out
// on the caller's goroutine (prepareUnit).
func (s *Store) newIntakeCall(ctx context.Context, u commands.IntakeUnit) *intakeCall {
	return &intakeCall{ctx: ctx, unit: u, pre: s.prepareUnit(u), done: make(chan struct{})}
}

// intakeCall is one caller's unit on its way through the writer.
type intakeCall struct {
	ctx  context.Context
	unit commands.IntakeUnit
	pre  *preparedUnit // what the caller worked out for the usual outcome (intakerows.go), or nil
	res  commands.IntakeResult
	err  error
	skip bool          // ctx ended before the writer took the unit up
	done chan struct{} // closed once res and err are final
}

// intakeWriter is the group-commit writer of a Store.
type intakeWriter struct {
	// calls is the queue of units. Buffered: a caller queues its unit and
	// waits for its outcome without being woken in between, as it would
	// be when the writer took a unit from a caller blocked on the send.
	calls     chan *intakeCall
	quit      chan struct{} // closed by Close
	done      chan struct{} // closed when the writer returned
	startOnce sync.Once
	stopOnce  sync.Once
	started   bool

	stmts  map[string]*sql.Stmt  // the hot statements, by SQL; writer goroutine only
	multi  map[rowsKey]*sql.Stmt // the multi-row INSERTs (intakerows.go); writer goroutine only
	pend   pendingRows           // the rows of the batch's first attempt; writer goroutine only
	recent recentIDs             // the dedup ids recorded last; writer goroutine only

	commits, units atomic.Int64 // for IntakeStats
	attempts       atomic.Int64 // batches run again with a savepoint per unit
}

// IntakeStats reports how many intake transactions were committed (or
// attempted) and how many units they held: units/commits is the group
// commit's batch size.
func (s *Store) IntakeStats() (commits, units int64) {
	return s.intake.commits.Load(), s.intake.units.Load()
}

func newIntakeWriter() *intakeWriter {
	return &intakeWriter{calls: make(chan *intakeCall, intakeQueue), quit: make(chan struct{}), done: make(chan struct{})}
}

// start runs the writer goroutine once.
func (w *intakeWriter) start(s *Store) {
	w.startOnce.Do(func() {
		w.started = true
		go w.run(s)
	})
}

// stop ends the writer after the batch it is committing, and closes its
// prepared statements.
func (w *intakeWriter) stop() error {
	var err error
	w.stopOnce.Do(func() {
		close(w.quit)
		w.startOnce.Do(func() {}) // no writer may start any more
		if w.started {
			<-w.done
		} else {
			close(w.done) // no writer will: a caller waiting on it returns instead of hanging
		}
		for _, st := range w.stmts {
			err = errors.Join(err, st.Close())
		}
		for _, st := range w.multi {
			err = errors.Join(err, st.Close())
		}
	})
	return err
}

// run takes the first waiting unit, then every other unit already waiting
// (up to intakeMaxBatch), and commits them together. It does not wait for
// more: measured with 8 to 128 clients (cmd/webhookload), committing what
// is there at once beat lingering up to 250 µs for a batch as large as the
// last one, which the writer's idle time paid for. The callers that arrive
// while a batch commits make up the next one.
func (w *intakeWriter) run(s *Store) {
	defer close(w.done)
	batch := make([]*intakeCall, 0, intakeMaxBatch)
	for {
		select {
		case c := <-w.calls:
			batch = append(batch[:0], c)
		case <-w.quit:
			return
		}
	gather:
		for len(batch) < intakeMaxBatch {
			select {
			case c := <-w.calls:
				batch = append(batch, c)
			default:
				break gather
			}
		}
		w.commit(s, batch)
		w.commits.Add(1)
		w.units.Add(int64(len(batch)))
		for _, c := range batch {
			close(c.done)
		}
		clear(batch) // the units (a rent's SSH password among their params) are their callers' again: the writer keeps none
	}
}

// checkpointEvery is how often the background checkpointer copies the WAL
// into the database file.
const checkpointEvery = 200 * time.Millisecond

// wipeRetryMax bounds the back-off between background retries of a wipe's
// TRUNCATE checkpoint that found readers.
const wipeRetryMax = 10 * time.Second

// runCheckpoints copies committed WAL frames into the database file every
// checkpointEvery, from a reader connection (a PASSIVE checkpoint takes no
// write lock), until quit is closed. SQLite would otherwise checkpoint
// inside a writer's COMMIT every 1,000 pages: a thousand page writes and
// two fsyncs on the path every intake waits on. The writer connection
// still checkpoints by itself past walAutoCheckpoint pages, should this
// fall behind (readers pinning old frames).
func (s *Store) runCheckpoints(quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	ctx := context.Background()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		s.checkpoint(ctx)
	}
}

// checkpoint is one background checkpoint: PASSIVE on a reader, or, while
// a wipe's TRUNCATE has not succeeded (wipePending), TRUNCATE (truncateWAL),
// backing off while it stays busy. Best effort: a failed or busy checkpoint is retried at the next
// tick.
func (s *Store) checkpoint(ctx context.Context) {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	if s.wipePending.Load() {
		now := time.Now()
		if now.Before(s.wipeRetryAt) {
			return
		}
		if s.truncateWAL(ctx) {
			s.wipePending.Store(false)
			s.wipeRetry = 0
			return
		}
		// Busy: a reader still holds the old frames. Back off up to
		// wipeRetryMax so a long reader (a backup) is not met with a
		// write-lock grab every 200 ms for its whole life.
		s.wipeRetry = min(max(2*s.wipeRetry, checkpointEvery), wipeRetryMax)
		s.wipeRetryAt = now.Add(s.wipeRetry)
		return
	}
	var busy, frames, copied int
	_ = s.read.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
}

// intakeSQL are the statements the writer prepares once.
var intakeSQL = []string{
	webhookByIDSQL, insertWebhookSQL, finishTakenOverSQL,
	jobByKeySQL, insertJobSQL, usageSQL,
	insertAuditSQL, insertEventSQL,
	savepointSQL, releaseSQL, rollbackToSQL,
}

// prepare prepares the hot statements on the writer connection, outside
// any transaction (a statement prepared inside one would be bound to it).
// A statement that fails to prepare (a database not migrated yet) runs
// unprepared and is tried again with the next batch.
func (w *intakeWriter) prepare(ctx context.Context, s *Store) {
	if len(w.stmts) == len(intakeSQL) {
		return
	}
	if w.stmts == nil {
		w.stmts = make(map[string]*sql.Stmt, len(intakeSQL))
	}
	for _, q := range intakeSQL {
		if q == usageSQL {
			q = usageQuery(s.pg)
		}
		if w.stmts[q] != nil {
			continue
		}
		if st, err := s.write.PrepareContext(ctx, q); err == nil {
			w.stmts[q] = st
		}
	}
}

// The statements only the writer runs.
const (
	insertWebhookSQL = `INSERT INTO webhook_requests (key, id, body_hash, status, answer, created_at, claimed_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	finishTakenOverSQL = `UPDATE webhook_requests SET status = ?, answer = ?, claimed_at = ?, finished_at = ?
		WHERE key = ? AND id = ? AND status = 0`
	insertAuditSQL = `INSERT INTO audit (at, actor, platform, channel, command, outcome, order_id, usd_per_hour, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	savepointSQL  = `SAVEPOINT intake_unit`
	releaseSQL    = `RELEASE intake_unit`
	rollbackToSQL = `ROLLBACK TO intake_unit`
)

// commit runs batch in one transaction and leaves each call's outcome in
// it. It runs the units one after the other without savepoints first (a
// savepoint copies every page a unit touches into a statement journal:
// about a sixth of the writer's time), their rows held back for one
// multi-row INSERT per table (pendingRows); when a unit fails, that transaction
// is rolled back whole and the batch runs again with each unit in a
// savepoint of its own, so that the failed units are rolled back alone
// and the others commit. The statements run under a context of their own:
// one caller leaving must not interrupt the others' commit.
func (w *intakeWriter) commit(s *Store, batch []*intakeCall) {
	ctx := context.Background()
	defer w.pend.reset() // the rows held back carry SSH passwords: keep none past the batch, even one whose attempt failed
	w.prepare(ctx, s)
	n := 0
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.err, c.skip = err, true // its caller left before the writer took it up
		} else {
			n++
		}
	}
	w.prepareRows(ctx, s, n)
	if w.attempt(ctx, s, batch, false) {
		return
	}
	w.attempts.Add(1)
	for _, c := range batch {
		if !c.skip {
			c.res, c.err = commands.IntakeResult{}, nil
		}
	}
	w.attempt(ctx, s, batch, true)
}

// attempt runs the units of batch whose err is nil in one transaction,
// each in a savepoint when isolate is set. Without isolation it returns
// false, having rolled back, as soon as a unit fails. An error of the
// transaction itself (BEGIN, COMMIT, a savepoint) fails every unit.
func (w *intakeWriter) attempt(ctx context.Context, s *Store, batch []*intakeCall, isolate bool) bool {
	fail := func(err error) {
		for _, c := range batch {
			if c.err == nil {
				c.res, c.err = commands.IntakeResult{}, err
			}
		}
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		fail(err)
		return true
	}
	defer tx.Rollback()
	q := preparedTx{tx: tx, stmts: w.stmts}
	var pend *pendingRows // the first attempt's rows held back (intakerows.go)
	if !isolate {
		pend = &w.pend
		pend.reset()
	}
	for _, c := range batch {
		if c.err != nil {
			continue
		}
		if isolate {
			if _, err := q.ExecContext(ctx, savepointSQL); err != nil {
				fail(err)
				return true
			}
		}
		c.res, c.err = s.intakeUnit(ctx, w, q, c.unit, c.pre, pend)
		if c.err == nil {
			if isolate {
				if _, err := q.ExecContext(ctx, releaseSQL); err != nil {
					fail(err)
					return true
				}
			}
			continue
		}
		c.res = commands.IntakeResult{}
		if !isolate {
			return false
		}
		_, err := q.ExecContext(ctx, rollbackToSQL)
		if err == nil {
			_, err = q.ExecContext(ctx, releaseSQL)
		}
		if err != nil {
			fail(fmt.Errorf("roll back a failed unit (%w): %w", c.err, err))
			return true
		}
	}
	if pend != nil {
		if err := w.flush(ctx, q, pend); err != nil {
			return false
		}
	}
	if err := tx.Commit(); err != nil {
		fail(err)
		return true
	}
	for _, c := range batch {
		if d := c.unit.Dedup; c.err == nil && d != nil && c.res.Dedup.State == commands.DedupRecorded {
			for _, id := range d.IDs {
				w.recent.add(dedupID{d.Key, id})
			}
		}
	}
	return true
}

// intakeUnit writes u in the batch's transaction. With pend (the batch's
// first attempt) it looks no dedup id up, and queues its job (the row pre
// holds, when it has no guard to count), audit row and dedup record in pend instead of
// inserting them: a dedup id or job key seen before then fails the
// attempt when pend is written, and the careful attempt, without pend,
// finds it.
func (s *Store) intakeUnit(ctx context.Context, w *intakeWriter, q preparedTx, u commands.IntakeUnit, pre *preparedUnit, pend *pendingRows) (res commands.IntakeResult, err error) {
	var (
		ids      []string
		takeOver []bool
	)
	batchIDs := pend // where the batch notes its recorded dedup ids
	if pend != nil && u.Dedup != nil && w.seenBefore(pend, u.Dedup.Key, distinct(u.Dedup.IDs)) {
		// A redelivery, most likely: written the careful way, after what
		// the batch queued before it.
		if err := w.flush(ctx, q, pend); err != nil {
			return res, err
		}
		pend = nil
	}
	if pend != nil && u.Dedup != nil {
		ids = distinct(u.Dedup.IDs)
		takeOver = make([]bool, len(ids))
	} else {
		var found commands.DedupResult
		ids, takeOver, found, err = s.checkDedup(ctx, q, u.Dedup)
		if err != nil || found.State != commands.DedupNone {
			return commands.IntakeResult{Dedup: found}, err
		}
	}
	if u.Job != nil {
		if pend != nil && pre != nil {
			pend.jobs = append(pend.jobs, pre.jobArgs...)
			res.Job, res.Created = pre.stored, true
		} else {
			if pend != nil {
				// The guard counts the jobs of the units before it (a
				// unit without pre counts a guard, or has a job that
				// createJobTx refuses).
				if err := w.flushJobs(ctx, q, pend); err != nil {
					return res, err
				}
			}
			res.Job, res.Created, res.Refused, err = s.createJobTx(ctx, q, *u.Job, u.Guard)
		}
		if err != nil {
			return res, err
		}
	}
	var wr commands.IntakeWrites
	if u.Finish != nil {
		if wr, err = finish(u.Finish, res.IntakeOutcome); err != nil {
			return res, err
		}
	}
	now := s.now()
	if e := wr.Audit; e != nil {
		if pend != nil {
			pend.audit = append(pend.audit, auditArgs(*e, now)...)
		} else if err := insertAudit(ctx, q, *e, now); err != nil {
			return res, err
		}
	}
	if len(wr.Events) > 0 {
		if pend != nil {
			// An event's job id references its job.
			if err := w.flushJobs(ctx, q, pend); err != nil {
				return res, err
			}
		}
		if _, err := appendEvents(ctx, q, wr.Events, now); err != nil {
			return res, fmt.Errorf("append events: %w", err)
		}
	}
	if u.Dedup == nil || wr.Status < 100 || wr.Status > 499 {
		if pend != nil && u.Dedup != nil {
			// No record of its own would meet one written before: look.
			if _, _, found, err := s.checkDedup(ctx, q, u.Dedup); err != nil {
				return res, err
			} else if found.State != commands.DedupNone {
				return res, errFastPathMiss
			}
		}
		return res, nil
	}
	if pend != nil {
		if err := queueDedup(pend, u.Dedup, ids, wr); err != nil {
			return res, err
		}
	} else if err := recordDedup(ctx, q, u.Dedup, ids, takeOver, wr); err != nil {
		return res, err
	} else if batchIDs != nil {
		for _, id := range ids {
			batchIDs.ids[dedupID{u.Dedup.Key, id}] = struct{}{}
		}
	}
	res.Dedup = commands.DedupResult{State: commands.DedupRecorded, Status: wr.Status, Answer: wr.Answer}
	return res, nil
}

// checkDedup looks the claim's ids up. A found State other than DedupNone
// (replayed, reused, in flight) ends the unit with nothing written. ids are
// the claim's distinct ids; takeOver marks those whose record was left at
// status 0 by a process that died.
func (s *Store) checkDedup(ctx context.Context, q preparedTx, d *commands.DedupClaim) (ids []string, takeOver []bool, found commands.DedupResult, err error) {
	if d == nil {
		return nil, nil, found, nil
	}
	ids = distinct(d.IDs)
	takeOver = make([]bool, len(ids))
	for i, id := range ids {
		rec, err := getWebhook(ctx, q, d.Key, id)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return nil, nil, found, fmt.Errorf("dedup: %w", err)
		case !bytes.Equal(rec.hash, d.Hash):
			return nil, nil, commands.DedupResult{State: commands.DedupReused}, nil
		case rec.status != 0:
			return nil, nil, commands.DedupResult{State: commands.DedupReplayed, Status: rec.status, Answer: rec.answer}, nil
		case !rec.takeOver(d.Hash, d.StaleBefore):
			return nil, nil, commands.DedupResult{State: commands.DedupInFlight}, nil
		}
		takeOver[i] = true
	}
	return ids, takeOver, found, nil
}

// distinct is ids without repeats, in their order.
func distinct(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// finish calls f; a panic fails the unit instead of the writer.
func finish(f func(commands.IntakeOutcome) commands.IntakeWrites, o commands.IntakeOutcome) (w commands.IntakeWrites, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("finish: panic: %v", p)
		}
	}()
	return f(o), nil
}

// insertAudit appends e (a zero At means now).
func insertAudit(ctx context.Context, q execQuerier, e commands.AuditEntry, now time.Time) error {
	if _, err := q.ExecContext(ctx, insertAuditSQL, auditArgs(e, now)...); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// recordDedup writes the answer under every id of the claim: a new record,
// or one taken over from a process that died.
func recordDedup(ctx context.Context, q preparedTx, d *commands.DedupClaim, ids []string, takeOver []bool, wr commands.IntakeWrites) error {
	at := formatTime(d.At)
	if d.At.IsZero() {
		return errors.New("dedup: the claim's time is required")
	}
	for i, id := range ids {
		var err error
		if takeOver[i] {
			var res sql.Result
			if res, err = q.ExecContext(ctx, finishTakenOverSQL, wr.Status, wr.Answer, at, at, d.Key, id); err == nil {
				err = wantOneRow(res)
			}
		} else {
			_, err = q.ExecContext(ctx, insertWebhookSQL, d.Key, id, d.Hash, wr.Status, wr.Answer, at, at, at)
		}
		if err != nil {
			return fmt.Errorf("dedup: record %s: %w", id, mapConstraint(err))
		}
	}
	return nil
}

// queueDedup queues the answer's record under every id of the claim, as
// recordDedup inserts it.
func queueDedup(p *pendingRows, d *commands.DedupClaim, ids []string, wr commands.IntakeWrites) error {
	if d.At.IsZero() {
		return errors.New("dedup: the claim's time is required")
	}
	at := formatTime(d.At)
	for _, id := range ids {
		p.webhooks = append(p.webhooks, d.Key, id, d.Hash, wr.Status, wr.Answer, at, at, at)
		p.ids[dedupID{d.Key, id}] = struct{}{}
	}
	return nil
}

// preparedTx is a write transaction that runs the writer's prepared
// statements (by their SQL) without parsing them again; other SQL runs as
// usual.
type preparedTx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

// QueryRowContext implements rowQuerier.
func (p preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmts[query]; st != nil {
		return p.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, query, args...)
}

// ExecContext implements execQuerier.
func (p preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmts[query]; st != nil {
		return p.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return p.tx.ExecContext(ctx, query, args...)
}
