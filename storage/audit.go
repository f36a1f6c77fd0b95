package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AuditEntry is one handled command. Command holds the command name and its
// sanitised arguments: callers strip secrets (SSH keys, passwords, tokens)
// before appending, because audit rows are shown to admins.
type AuditEntry struct {
	// ID is set by AppendAudit.
	ID int64
	// At is when the command was handled; AppendAudit defaults it to now. UTC.
	At time.Time
	// Actor is the identity that issued the command, e.g. "discord:42".
	Actor string
	// Platform is the front door: slack, discord, webhook or cli.
	Platform string
	// Channel is where the command was issued, if anywhere.
	Channel string
	// Command is the command name and sanitised arguments.
	Command string
	// Outcome is e.g. "ok", "denied" or "error".
	Outcome string
	// OrderID is the Clore order id the command concerned, if any.
	OrderID *int64
	// USDPerHour is the price per hour the command committed to, if any.
	USDPerHour *float64
	// Detail is free text: the reason for a denial, the error shown, ...
	Detail string
}

// AuditFilter selects audit entries for ListAudit.
type AuditFilter struct {
	// Since keeps entries at or after this time; zero keeps all.
	Since time.Time
	// Limit caps the number of entries returned; 0 means no cap.
	Limit int
}

// AppendAudit records e and returns its id. A zero e.At means now.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) (int64, error) {
	at := e.At
	if at.IsZero() {
		at = s.now()
	}
	var usd sql.NullFloat64
	if e.USDPerHour != nil {
		usd = sql.NullFloat64{Float64: *e.USDPerHour, Valid: true}
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("storage: append audit: %w", err)
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO audit (at, actor, platform, channel, command,
		outcome, order_id, usd_per_hour, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		formatTime(at), e.Actor, e.Platform, e.Channel, e.Command, e.Outcome,
		nullInt64(e.OrderID), usd, e.Detail).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storage: append audit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("storage: append audit: %w", err)
	}
	return id, nil
}

// ListAudit returns the entries that match f, oldest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := `SELECT id, at, actor, platform, channel, command, outcome, order_id,
		usd_per_hour, detail FROM audit`
	var args []any
	if !f.Since.IsZero() {
		q += ` WHERE at >= ?`
		args = append(args, formatTime(f.Since))
	}
	q += ` ORDER BY at, id`
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
