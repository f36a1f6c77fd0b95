package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/clorebot/clorebot/commands"
)

// pendingRows are the rows a batch's first attempt (see intakeWriter.commit)
// holds back to write with one multi-row INSERT per table when the batch is
// done, instead of one statement per row, and without looking each dedup id
// up first: the statements' fixed cost (bind, step, reset, database/sql)
// and the lookups go. Plain INSERTs, with no ON CONFLICT: a row that meets
// an existing key (a job key or dedup id seen before, a duplicate in the
// batch) fails the attempt, and the batch runs again the careful way, each
// unit in a savepoint, looking every id up first. The redeliveries the
// writer can foresee (an id it recorded lately, or earlier in the batch)
// take the careful way on their own instead (recentIDs).
type pendingRows struct {
	jobs     []any                // insertJobSQL's arguments, 20 per row
	audit    []any                // insertAuditSQL's, 9 per row
	webhooks []any                // insertWebhookSQL's, 8 per row
	ids      map[dedupID]struct{} // the dedup ids the batch recorded so far
}

func (p *pendingRows) reset() {
	clear(p.jobs)
	clear(p.audit)
	clear(p.webhooks)
	p.jobs, p.audit, p.webhooks = p.jobs[:0], p.audit[:0], p.webhooks[:0]
	if p.ids == nil {
		p.ids = make(map[dedupID]struct{})
	}
	clear(p.ids)
}

// dedupID is a dedup record's key.
type dedupID struct{ key, id string }

// recentIDs remembers the dedup ids the writer recorded last (up to
// recentIDsMax), so that a redelivery of one (a sender's retry, a replay)
// takes the careful path alone instead of failing its batch's first
// attempt on the record's key. An id it forgot, or one recorded by another
// process, still fails that attempt, and the batch runs again.
type recentIDs struct {
	set  map[dedupID]struct{}
	ring []dedupID
	next int
}

// recentIDsMax bounds recentIDs: about a megabyte.
const recentIDsMax = 8192

func (r *recentIDs) has(d dedupID) bool {
	_, ok := r.set[d]
	return ok
}

func (r *recentIDs) add(d dedupID) {
	if r.set == nil {
		r.set = make(map[dedupID]struct{}, recentIDsMax)
		r.ring = make([]dedupID, 0, recentIDsMax)
	}
	if r.has(d) {
		return
	}
	if len(r.ring) < recentIDsMax {
		r.ring = append(r.ring, d)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = d
		r.next = (r.next + 1) % recentIDsMax
	}
	r.set[d] = struct{}{}
}

// seenBefore reports whether one of the claim's ids is queued in p or was
// recorded lately: the unit then takes the careful path.
func (w *intakeWriter) seenBefore(p *pendingRows, key string, ids []string) bool {
	for _, id := range ids {
		d := dedupID{key, id}
		if _, ok := p.ids[d]; ok || w.recent.has(d) {
			return true
		}
	}
	return false
}

// The tables pendingRows writes, with the columns of one row.
var (
	jobRows   = rowsTable{table: "jobs", columns: jobColumns, n: 20}
	auditRows = rowsTable{table: "audit",
		columns: "at, actor, platform, channel, command, outcome, order_id, usd_per_hour, detail", n: 9}
	webhookRows = rowsTable{table: "webhook_requests",
		columns: "key, id, body_hash, status, answer, created_at, claimed_at, finished_at", n: 8}
)

// rowsTable is a table written n columns a row.
type rowsTable struct {
	table, columns string
	n              int
}

// insertSQL is the INSERT of rows rows of t.
func (t rowsTable) insertSQL(rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", t.n), ", ") + ")"
	return "INSERT INTO " + t.table + " (" + t.columns + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

// errFastPathMiss ends a batch's first attempt when a unit needs what only
// the careful attempt does (a dedup id recorded before, met without a
// record of its own to collide on).
var errFastPathMiss = errors.New("storage: intake: the unit needs the careful path")

// preparedUnit is the row of a unit's job, worked out by the caller of
// Intake on its own goroutine when the unit counts no guard: the writer,
// whose time every unit of a batch waits on, then only copies it into the
// batch's rows.
type preparedUnit struct {
	stored  commands.Job // the job as created
	jobArgs []any        // its row (jobArgs)
}

// prepareUnit works u's preparedUnit out, or returns nil when u has no job,
// counts a guard, or its job is invalid (the writer then reports it).
func (s *Store) prepareUnit(u commands.IntakeUnit) *preparedUnit {
	if u.Job == nil || (u.Guard != nil && (u.Guard.Check != nil || u.Guard.Quote != nil)) {
		return nil
	}
	j, err := s.newJob(*u.Job)
	if err != nil {
		return nil
	}
	return &preparedUnit{stored: storedJob(j), jobArgs: jobArgs(make([]any, 0, jobRows.n), j)}
}

// flushJobs writes the queued jobs, so that what reads or references jobs
// next (a guard's count, an event's job id) sees them.
func (w *intakeWriter) flushJobs(ctx context.Context, q preparedTx, p *pendingRows) error {
	if err := w.insertRows(ctx, q, jobRows, p.jobs); err != nil {
		return fmt.Errorf("storage: create job: %w", mapConstraint(err))
	}
	clear(p.jobs)
	p.jobs = p.jobs[:0]
	return nil
}

// flush writes every queued row (p.ids stays: the ids are the batch's).
func (w *intakeWriter) flush(ctx context.Context, q preparedTx, p *pendingRows) error {
	if err := w.flushJobs(ctx, q, p); err != nil {
		return err
	}
	if err := w.insertRows(ctx, q, auditRows, p.audit); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	if err := w.insertRows(ctx, q, webhookRows, p.webhooks); err != nil {
		return fmt.Errorf("dedup: record: %w", mapConstraint(err))
	}
	clear(p.audit)
	clear(p.webhooks)
	p.audit, p.webhooks = p.audit[:0], p.webhooks[:0]
	return nil
}

// insertRows inserts args (t.n per row) with one statement per
// maxRowsPerInsert rows: the one prepareRows prepared for that many rows,
// else parsed for this once.
func (w *intakeWriter) insertRows(ctx context.Context, q preparedTx, t rowsTable, args []any) error {
	for len(args) > 0 {
		rows := min(len(args)/t.n, maxRowsPerInsert)
		chunk := args[:rows*t.n]
		args = args[len(chunk):]
		var err error
		if st := w.multi[rowsKey{t.table, rows}]; st != nil {
			_, err = q.tx.StmtContext(ctx, st).ExecContext(ctx, chunk...)
		} else {
			_, err = q.tx.ExecContext(ctx, t.insertSQL(rows), chunk...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// maxRowsPerInsert bounds the rows of one INSERT, and so the statements
// prepareRows keeps: 3 tables × 16 sizes.
const maxRowsPerInsert = 16

// prepareRows prepares, outside any transaction (the writer's one
// connection is free then), the INSERTs insertRows uses for a batch of n
// units where each unit writes a row to each table, the usual case.
func (w *intakeWriter) prepareRows(ctx context.Context, s *Store, n int) {
	if w.multi == nil {
		w.multi = make(map[rowsKey]*sql.Stmt)
	}
	sizes := []int{min(n, maxRowsPerInsert)}
	if r := n % maxRowsPerInsert; n > maxRowsPerInsert && r > 0 {
		sizes = append(sizes, r)
	}
	for _, t := range []rowsTable{jobRows, auditRows, webhookRows} {
		for _, rows := range sizes {
			key := rowsKey{t.table, rows}
			if rows == 0 || w.multi[key] != nil {
				continue
			}
			if st, err := s.write.PrepareContext(ctx, t.insertSQL(rows)); err == nil {
				w.multi[key] = st
			}
		}
	}
}

// rowsKey names a prepared multi-row INSERT.
type rowsKey struct {
	table string
	rows  int
}
