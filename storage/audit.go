package storage

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// AuditEntry is one handled command ([commands.AuditEntry]). Command holds
// the command name and its sanitised arguments: callers strip secrets (SSH
// keys, passwords, tokens) before appending, because audit rows are shown to
// admins. AppendAudit defaults a zero At to the store's clock.
type AuditEntry = commands.AuditEntry

// AuditFilter selects audit entries for ListAudit ([commands.AuditFilter]):
// entries at or after Since (zero keeps all), at most Limit (0 means no cap).
type AuditFilter = commands.AuditFilter

// AppendAudit records e and returns its id. A zero e.At means now.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) (int64, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("storage: append audit: %w", err)
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO audit (at, actor, platform, channel, command,
		outcome, order_id, usd_per_hour, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		auditArgs(e, s.now())...).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storage: append audit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("storage: append audit: %w", err)
	}
	return id, nil
}

// auditChunk is how many rows one INSERT of AppendAuditBatch carries
// (9 parameters each, far below SQLite's limit).
const auditChunk = 100

// AppendAuditBatch records es in one transaction, in order: all of them or
// none. A zero At means now. It is how the command layer's background audit
// writer keeps up with a burst of commands: one commit for the batch, and
// one multi-row INSERT per auditChunk rows, instead of a transaction each.
func (s *Store) AppendAuditBatch(ctx context.Context, es []AuditEntry) error {
	if len(es) == 0 {
		return nil
	}
	if err := s.appendAuditBatch(ctx, es); err != nil {
		return fmt.Errorf("storage: append audit batch of %d: %w", len(es), err)
	}
	return nil
}

func (s *Store) appendAuditBatch(ctx context.Context, es []AuditEntry) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := s.now()
	for chunk := range slices.Chunk(es, auditChunk) {
		q := `INSERT INTO audit (at, actor, platform, channel, command, outcome, order_id, usd_per_hour, detail) VALUES ` +
			strings.Repeat(`(?, ?, ?, ?, ?, ?, ?, ?, ?), `, len(chunk)-1) + `(?, ?, ?, ?, ?, ?, ?, ?, ?)`
		args := make([]any, 0, 9*len(chunk))
		for _, e := range chunk {
			args = append(args, auditArgs(e, now)...)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// auditArgs are the column values of e, in insert order; a zero At is now.
func auditArgs(e AuditEntry, now time.Time) []any {
	at := e.At
	if at.IsZero() {
		at = now
	}
	var usd sql.NullFloat64
	if e.USDPerHour != nil {
		usd = sql.NullFloat64{Float64: *e.USDPerHour, Valid: true}
	}
	return []any{formatTime(at), e.Actor, e.Platform, e.Channel, e.Command, e.Outcome, nullInt64(e.OrderID), usd, e.Detail}
}

// ListAudit returns the entries that match f, oldest first unless
// f.NewestFirst.
//
// The table keeps no index on the time (0016_intake_btrees.sql: every
// accepted request paid for one), so a listing reads every row: about
// 23 ms per 200,000 rows on the 2-core development machine. Only the
// operator's audit command lists; nothing on a request path does.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := `SELECT id, at, actor, platform, channel, command, outcome, order_id,
		usd_per_hour, detail FROM audit`
	var args []any
	if !f.Since.IsZero() {
		q += ` WHERE at >= ?`
		args = append(args, formatTime(f.Since))
	}
	if f.NewestFirst {
		q += ` ORDER BY at DESC, id DESC`
	} else {
		q += ` ORDER BY at, id`
	}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: list audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: list audit: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: list audit: %w", err)
	}
	return out, nil
}

// scanAudit reads one audit row.
func scanAudit(sc scanner) (AuditEntry, error) {
	var (
		e       AuditEntry
		at      string
		orderID sql.NullInt64
		usd     sql.NullFloat64
	)
	err := sc.Scan(&e.ID, &at, &e.Actor, &e.Platform, &e.Channel, &e.Command,
		&e.Outcome, &orderID, &usd, &e.Detail)
	if err != nil {
		return AuditEntry{}, err
	}
	if e.At, err = parseTime(at); err != nil {
		return AuditEntry{}, err
	}
	if orderID.Valid {
		e.OrderID = &orderID.Int64
	}
	if usd.Valid {
		e.USDPerHour = &usd.Float64
	}
	return e, nil
}
