package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// Order states that clorebot records; they are the command layer's
// constants, re-exported so that callers of storage need not import commands.
// The column is free text so that later states need no migration.
const (
	OrderCreating     = commands.OrderCreating
	OrderProvisioning = commands.OrderProvisioning
	OrderRunning      = commands.OrderRunning
	OrderCancelling   = commands.OrderCancelling
	OrderCancelled    = commands.OrderCancelled
	OrderExpired      = commands.OrderExpired
	OrderFailed       = commands.OrderFailed
)

// Order is clorebot's record of a Clore order it created or knows about
// ([commands.Order]). ID is set by the store; CloreOrderID is unique when set;
// CreatedAt defaults to the store's clock on insert and UpdatedAt is set on
// every write; times read back are in UTC.
type Order = commands.Order

// OrderFilter selects orders for ListOrders ([commands.OrderFilter]). Zero
// fields select everything; a zero Limit means no cap.
type OrderFilter = commands.OrderFilter

const orderColumns = `id, clore_order_id, server_id, gpu_model, gpu_count, currency, spot,
	price_per_day, usd_per_hour, image, requested_by, reply_target, state,
	created_at, updated_at, expires_at, error, job_id`

// CreateOrder inserts o and sets its ID, UpdatedAt and, when zero, CreatedAt.
// A Clore order id that another order already has is an [ErrConflict].
func (s *Store) CreateOrder(ctx context.Context, o *Order) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: insert order: %w", err)
	}
	defer tx.Rollback()
	stored, err := insertOrder(ctx, tx, *o, "", s.now())
	if err != nil {
		return fmt.Errorf("storage: insert order: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: insert order: %w", err)
	}
	*o = stored
	return nil
}

// insertOrder inserts o, linked to the job jobID ("" for none), and returns
// it with ID, UpdatedAt and, when zero, CreatedAt set.
func insertOrder(ctx context.Context, tx *sql.Tx, o Order, jobID string, now time.Time) (Order, error) {
	if o.State == "" {
		return Order{}, errors.New("state is required")
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = now
	}
	o.UpdatedAt = now
	o.ReplyTarget = commands.FreshTarget(o.ReplyTarget, now)
	err := tx.QueryRowContext(ctx, `INSERT INTO orders (clore_order_id, server_id, gpu_model,
		gpu_count, currency, spot, price_per_day, usd_per_hour, image, requested_by,
		reply_target, state, created_at, updated_at, expires_at, error, job_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		nullInt64(o.CloreOrderID), o.ServerID, o.GPUModel, o.GPUCount, o.Currency,
		boolInt(o.Spot), o.PricePerDay, o.USDPerHour, o.Image, o.RequestedBy,
		o.ReplyTarget, o.State, formatTime(o.CreatedAt), formatTime(now),
		formatNullTime(o.ExpiresAt), o.Error, nullString(jobID)).Scan(&o.ID)
	if err != nil {
		return Order{}, mapConstraint(err)
	}
	o.JobID = jobID
	return o, nil
}

// UpdateOrder overwrites every field of the order with o.ID except
// CreatedAt and JobID, sets UpdatedAt to now and appends events to the
// outbox, all in one transaction. It returns [ErrNotFound] when there is no
// such order and [ErrConflict] when the Clore order id belongs to another
// order; then nothing is written.
func (s *Store) UpdateOrder(ctx context.Context, o Order, events ...commands.Event) error {
	return s.updateOrderTx(ctx, o, nil, events)
}

// UpdateOrderIf is UpdateOrder on the condition that the stored order is
// still in state wantState with the end wantEnd (nil: none): the TTL's
// cancel and an extend that race each other never overwrite one another.
// When the condition fails nothing is written and it returns [ErrConflict].
func (s *Store) UpdateOrderIf(ctx context.Context, o Order, wantState string, wantEnd *time.Time, events ...commands.Event) error {
	return s.updateOrderTx(ctx, o, func(tx *sql.Tx) error {
		return orderIs(ctx, tx, o.ID, wantState, wantEnd)
	}, events)
}

// orderIs checks, inside tx, that the order id is in state wantState with
// the end wantEnd (nil: none): [ErrConflict] when not, [ErrNotFound] when
// there is no such order.
func orderIs(ctx context.Context, tx rowQuerier, id int64, wantState string, wantEnd *time.Time) error {
	var state string
	var end sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT state, expires_at FROM orders WHERE id = ?`, id).Scan(&state, &end)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case state != wantState || end != formatNullTime(wantEnd):
		return fmt.Errorf("now %s: %w", state, ErrConflict)
	}
	return nil
}

// updateOrderTx writes o and appends events in one transaction, after
// check (when not nil) passed inside it.
func (s *Store) updateOrderTx(ctx context.Context, o Order, check func(*sql.Tx) error, events []commands.Event) error {
	now := s.now()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: update order %d: %w", o.ID, err)
	}
	defer tx.Rollback()
	if check != nil {
		if err := check(tx); err != nil {
			return fmt.Errorf("storage: update order %d: %w", o.ID, err)
		}
	}
	if err := updateOrder(ctx, tx, o, now); err != nil {
		return fmt.Errorf("storage: update order %d: %w", o.ID, err)
	}
	if _, err := appendEvents(ctx, tx, events, now); err != nil {
		return fmt.Errorf("storage: update order %d: %w", o.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: update order %d: %w", o.ID, err)
	}
	return nil
}

// updateOrder overwrites the order with o.ID; see UpdateOrder.
func updateOrder(ctx context.Context, tx *sql.Tx, o Order, now time.Time) error {
	if o.State == "" {
		return errors.New("state is required")
	}
	res, err := tx.ExecContext(ctx, `UPDATE orders SET clore_order_id = ?, server_id = ?,
		gpu_model = ?, gpu_count = ?, currency = ?, spot = ?, price_per_day = ?,
		usd_per_hour = ?, image = ?, requested_by = ?, reply_target = ?, state = ?,
		updated_at = ?, expires_at = ?, error = ?
		WHERE id = ?`,
		nullInt64(o.CloreOrderID), o.ServerID, o.GPUModel, o.GPUCount, o.Currency,
		boolInt(o.Spot), o.PricePerDay, o.USDPerHour, o.Image, o.RequestedBy,
		commands.FreshTarget(o.ReplyTarget, now), o.State, formatTime(now), formatNullTime(o.ExpiresAt),
		o.Error, o.ID)
	if err != nil {
		return mapConstraint(err)
	}
	return wantOneRow(res)
}

// GetOrder returns the order with local id id, or [ErrNotFound].
func (s *Store) GetOrder(ctx context.Context, id int64) (Order, error) {
	o, err := s.getOrder(ctx, `id = ?`, id)
	if err != nil {
		return Order{}, fmt.Errorf("storage: get order %d: %w", id, err)
	}
	return o, nil
}

// GetOrderByCloreID returns the order with Clore order id cloreID, or
// [ErrNotFound].
func (s *Store) GetOrderByCloreID(ctx context.Context, cloreID int64) (Order, error) {
	o, err := s.getOrder(ctx, `clore_order_id = ?`, cloreID)
	if err != nil {
		return Order{}, fmt.Errorf("storage: get order by clore id %d: %w", cloreID, err)
	}
	return o, nil
}

// getOrder reads the one order matching where.
func (s *Store) getOrder(ctx context.Context, where string, arg any) (Order, error) {
	row := s.read.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE `+where, arg)
	o, err := scanOrder(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	return o, err
}

// ListOrders returns the orders that match f, newest first.
func (s *Store) ListOrders(ctx context.Context, f OrderFilter) ([]Order, error) {
	var where []string
	var args []any
	if f.RequestedBy != "" {
		where = append(where, `requested_by = ?`)
		args = append(args, f.RequestedBy)
	}
	if f.JobID != "" {
		where = append(where, `job_id = ?`)
		args = append(args, f.JobID)
	}
	if len(f.States) > 0 {
		where = append(where, `state IN (?`+strings.Repeat(`, ?`, len(f.States)-1)+`)`)
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	q := `SELECT ` + orderColumns + ` FROM orders`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: list orders: %w", err)
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("storage: list orders: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: list orders: %w", err)
	}
	return out, nil
}

// CountOrdersSince counts the orders requested by who (every requester when
// who is empty) and created at or after since, whatever their state.
func (s *Store) CountOrdersSince(ctx context.Context, who string, since time.Time) (int, error) {
	q := `SELECT count(*) FROM orders WHERE created_at >= ?`
	args := []any{formatTime(since)}
	if who != "" {
		q += ` AND requested_by = ?`
		args = append(args, who)
	}
	var n int
	if err := s.read.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: count orders: %w", err)
	}
	return n, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanOrder reads one row of orderColumns.
func scanOrder(sc scanner) (Order, error) {
	var (
		o                Order
		cloreID          sql.NullInt64
		spot             int64
		created, updated string
		expires, jobID   sql.NullString
	)
	err := sc.Scan(&o.ID, &cloreID, &o.ServerID, &o.GPUModel, &o.GPUCount, &o.Currency,
		&spot, &o.PricePerDay, &o.USDPerHour, &o.Image, &o.RequestedBy, &o.ReplyTarget,
		&o.State, &created, &updated, &expires, &o.Error, &jobID)
	if err != nil {
		return Order{}, err
	}
	if cloreID.Valid {
		o.CloreOrderID = &cloreID.Int64
	}
	o.Spot = spot != 0
	o.JobID = jobID.String
	if o.CreatedAt, err = parseTime(created); err != nil {
		return Order{}, err
	}
	if o.UpdatedAt, err = parseTime(updated); err != nil {
		return Order{}, err
	}
	if o.ExpiresAt, err = parseNullTime(expires); err != nil {
		return Order{}, err
	}
	return o, nil
}

// nullInt64 maps an optional id to a nullable column.
func nullInt64(v *int64) sql.NullInt64 {
	if v == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *v, Valid: true}
}

// nullString stores an empty string as NULL, for optional references.
func nullString(v string) sql.NullString {
	return sql.NullString{String: v, Valid: v != ""}
}

// wantOneRow turns an UPDATE or DELETE that matched no row into ErrNotFound.
func wantOneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// boolInt stores a bool as 0 or 1 (the column is a STRICT INTEGER).
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
