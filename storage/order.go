package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Order states that clorebot records. The column is free text so that later
// states need no migration; these are the ones in use.
const (
	OrderCreating     = "creating"
	OrderProvisioning = "provisioning"
	OrderRunning      = "running"
	OrderCancelling   = "cancelling"
	OrderCancelled    = "cancelled"
	OrderExpired      = "expired"
	OrderFailed       = "failed"
)

// Order is clorebot's record of a Clore order it created or knows about.
type Order struct {
	// ID is the local id, set by CreateOrder.
	ID int64
	// CloreOrderID is Clore's order id; nil until known (create_order does
	// not return it). Unique when set.
	CloreOrderID *int64
	// ServerID is the Clore server the order rents.
	ServerID int64
	// GPUModel is the normalised GPU model name, e.g. "RTX 4090".
	GPUModel string
	// GPUCount is the number of GPUs on the server.
	GPUCount int
	// Currency is the Clore currency the order is paid in.
	Currency string
	// Spot is true for a spot (interruptible) order.
	Spot bool
	// PricePerDay is the server's price per day in Currency.
	PricePerDay float64
	// USDPerHour is the whole order's price per hour in US dollars.
	USDPerHour float64
	// Image is the Docker image the order runs.
	Image string
	// RequestedBy is the identity that asked for it, e.g. "slack:U123".
	RequestedBy string
	// ReplyTarget is where updates about the order go (platform-specific).
	ReplyTarget string
	// State is one of the Order* constants; required.
	State string
	// CreatedAt defaults to the store's clock in CreateOrder; UTC.
	CreatedAt time.Time
	// UpdatedAt is set by the store on every write; UTC.
	UpdatedAt time.Time
	// ExpiresAt is when clorebot cancels the order by itself; nil for never.
	ExpiresAt *time.Time
	// Error is the last error that concerned the order, empty for none.
	Error string
}

// OrderFilter selects orders for ListOrders. Zero fields select everything.
type OrderFilter struct {
	// RequestedBy keeps only orders of this identity.
	RequestedBy string
	// States keeps only orders in one of these states.
	States []string
	// Limit caps the number of orders returned; 0 means no cap.
	Limit int
}

const orderColumns = `id, clore_order_id, server_id, gpu_model, gpu_count, currency, spot,
	price_per_day, usd_per_hour, image, requested_by, reply_target, state,
	created_at, updated_at, expires_at, error`

// CreateOrder inserts o and sets its ID, UpdatedAt and, when zero, CreatedAt.
// A Clore order id that another order already has is an [ErrConflict].
func (s *Store) CreateOrder(ctx context.Context, o *Order) error {
	if o.State == "" {
		return errors.New("storage: insert order: state is required")
	}
	now := s.now()
	created := o.CreatedAt
	if created.IsZero() {
		created = now
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: insert order: %w", err)
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO orders (clore_order_id, server_id, gpu_model,
		gpu_count, currency, spot, price_per_day, usd_per_hour, image, requested_by,
		reply_target, state, created_at, updated_at, expires_at, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		nullInt64(o.CloreOrderID), o.ServerID, o.GPUModel, o.GPUCount, o.Currency,
		boolInt(o.Spot), o.PricePerDay, o.USDPerHour, o.Image, o.RequestedBy,
		o.ReplyTarget, o.State, formatTime(created), formatTime(now),
		formatNullTime(o.ExpiresAt), o.Error).Scan(&id)
	if err != nil {
		return fmt.Errorf("storage: insert order: %w", mapConstraint(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: insert order: %w", err)
	}
	o.ID, o.CreatedAt, o.UpdatedAt = id, created, now
	return nil
}

// UpdateOrder overwrites every field of the order with o.ID except CreatedAt,
// and sets UpdatedAt to now. It returns [ErrNotFound] when there is no such
// order and [ErrConflict] when the Clore order id belongs to another order.
func (s *Store) UpdateOrder(ctx context.Context, o Order) error {
	if o.State == "" {
		return fmt.Errorf("storage: update order %d: state is required", o.ID)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: update order %d: %w", o.ID, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE orders SET clore_order_id = ?, server_id = ?,
		gpu_model = ?, gpu_count = ?, currency = ?, spot = ?, price_per_day = ?,
		usd_per_hour = ?, image = ?, requested_by = ?, reply_target = ?, state = ?,
		updated_at = ?, expires_at = ?, error = ?
		WHERE id = ?`,
		nullInt64(o.CloreOrderID), o.ServerID, o.GPUModel, o.GPUCount, o.Currency,
		boolInt(o.Spot), o.PricePerDay, o.USDPerHour, o.Image, o.RequestedBy,
		o.ReplyTarget, o.State, formatTime(s.now()), formatNullTime(o.ExpiresAt),
		o.Error, o.ID)
	if err != nil {
		return fmt.Errorf("storage: update order %d: %w", o.ID, mapConstraint(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("storage: update order %d: %w", o.ID, err)
	} else if n == 0 {
		return fmt.Errorf("storage: update order %d: %w", o.ID, ErrNotFound)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: update order %d: %w", o.ID, err)
	}
	return nil
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
		expires          sql.NullString
	)
	err := sc.Scan(&o.ID, &cloreID, &o.ServerID, &o.GPUModel, &o.GPUCount, &o.Currency,
		&spot, &o.PricePerDay, &o.USDPerHour, &o.Image, &o.RequestedBy, &o.ReplyTarget,
		&o.State, &created, &updated, &expires, &o.Error)
	if err != nil {
		return Order{}, err
	}
	if cloreID.Valid {
		o.CloreOrderID = &cloreID.Int64
	}
	o.Spot = spot != 0
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

// boolInt stores a bool as 0 or 1 (the column is a STRICT INTEGER).
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
