package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// order is one stored order.
type order struct {
	ID           int64
	KeyHash      string
	ServerID     int64
	Spot         bool
	Currency     string
	Image        string
	Ports        string // JSON object
	Price        float64
	PriceSinceMS int64
	SpendBefore  float64
	CreationFee  float64
	CreatedMS    int64
	MRLSeconds   int64
	EndsMS       int64
	CancelledMS  int64 // 0: not cancelled
	LoweredMS    int64 // 0: never lowered
}

const orderColumns = `id, key_hash, server_id, spot, currency, image, ports, price, price_since_ms,
	spend_before, creation_fee, created_ms, mrl_s, ends_ms, cancelled_ms, lowered_ms`

// scanOrder reads one row selected with orderColumns.
func scanOrder(row interface{ Scan(...any) error }) (order, error) {
	var o order
	var cancelled, lowered sql.NullInt64
	err := row.Scan(&o.ID, &o.KeyHash, &o.ServerID, &o.Spot, &o.Currency, &o.Image, &o.Ports,
		&o.Price, &o.PriceSinceMS, &o.SpendBefore, &o.CreationFee, &o.CreatedMS, &o.MRLSeconds,
		&o.EndsMS, &cancelled, &lowered)
	o.CancelledMS, o.LoweredMS = cancelled.Int64, lowered.Int64
	return o, err
}

// activeAt reports whether the order runs at nowMS.
func (o order) activeAt(nowMS int64) bool { return o.CancelledMS == 0 && nowMS < o.EndsMS }

// stopMS is when billing stops: cancellation or the end of the rental.
func (o order) stopMS() int64 {
	if o.CancelledMS != 0 && o.CancelledMS < o.EndsMS {
		return o.CancelledMS
	}
	return o.EndsMS
}

// spendAt is the amount billed until nowMS, per minute at a daily rate.
func (o order) spendAt(nowMS int64) float64 {
	end := min(nowMS, o.stopMS())
	return o.SpendBefore + o.Price*float64(max(end-o.PriceSinceMS, 0))/msPerDay
}

// queryOrders runs a SELECT of orderColumns.
func queryOrders(ctx context.Context, q querier, where string, args ...any) ([]order, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// ordersOfKey returns every order of one API key, oldest first.
func (st *store) ordersOfKey(ctx context.Context, keyHash string) ([]order, error) {
	out, err := queryOrders(ctx, st.db, "key_hash = ?", keyHash)
	if err != nil {
		return nil, fmt.Errorf("sandbox: orders: %w", err)
	}
	return out, nil
}

// activeSpotOrders returns the active spot orders of all keys on a server.
func (st *store) activeSpotOrders(ctx context.Context, serverID, nowMS int64) ([]order, error) {
	out, err := queryOrders(ctx, st.db,
		"server_id = ? AND spot = 1 AND cancelled_ms IS NULL AND ends_ms > ?", serverID, nowMS)
	if err != nil {
		return nil, fmt.Errorf("sandbox: spot orders: %w", err)
	}
	return out, nil
}

// createOrder stores o in one immediate transaction after checking that the
// server is free and the wallet holds at least need; it debits the creation
// fee and returns the new order id.
func (st *store) createOrder(ctx context.Context, o order, need float64) (int64, error) {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sandbox: create order: %w", err)
	}
	defer tx.Rollback()
	busy, err := serverBusy(ctx, tx, o.ServerID, o.CreatedMS)
	if err != nil {
		return 0, err
	}
	if busy {
		return 0, errServerRented
	}
	balance, err := st.balance(ctx, tx, o.KeyHash, o.Currency, o.CreatedMS)
	if err != nil {
		return 0, fmt.Errorf("sandbox: create order: %w", err)
	}
	if balance < need {
		return 0, errNotEnoughBalance
	}
	var last int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), ?) FROM orders", firstOrderID).Scan(&last); err != nil {
		return 0, fmt.Errorf("sandbox: create order: %w", err)
	}
	o.ID = last + 1 + int64(mix(uint64(last), 0, 0)%7) // other users' orders take ids too
	_, err = tx.ExecContext(ctx, "INSERT INTO orders ("+orderColumns+") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL,NULL)",
		o.ID, o.KeyHash, o.ServerID, o.Spot, o.Currency, o.Image, o.Ports, o.Price, o.PriceSinceMS,
		o.SpendBefore, o.CreationFee, o.CreatedMS, o.MRLSeconds, o.EndsMS)
	if err != nil {
		return 0, fmt.Errorf("sandbox: create order: %w", err)
	}
	_, err = tx.ExecContext(ctx, "UPDATE wallets SET balance = balance - ? WHERE key_hash = ? AND currency = ?",
		o.CreationFee, o.KeyHash, o.Currency)
	if err != nil {
		return 0, fmt.Errorf("sandbox: create order: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sandbox: create order: %w", err)
	}
	return o.ID, nil
}

// orderOfKey reads order id for keyHash: errOrderNotFound when there is no
// such order, errNotYourOrder when it belongs to another key.
func orderOfKey(ctx context.Context, q querier, keyHash string, id int64) (order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return o, errOrderNotFound
	case err != nil:
		return o, err
	case o.KeyHash != keyHash:
		return o, errNotYourOrder
	}
	return o, nil
}

// hasActiveSpotOrder reports whether keyHash has a running spot order on serverID.
func (st *store) hasActiveSpotOrder(ctx context.Context, keyHash string, serverID, nowMS int64) (bool, error) {
	var n int
	err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders WHERE key_hash = ? AND server_id = ? AND spot = 1
		AND cancelled_ms IS NULL AND ends_ms > ?`, keyHash, serverID, nowMS).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sandbox: spot orders: %w", err)
	}
	return n > 0, nil
}

// cancelOrder ends an active order of keyHash at nowMS.
func (st *store) cancelOrder(ctx context.Context, keyHash string, id, nowMS int64) error {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sandbox: cancel order: %w", err)
	}
	defer tx.Rollback()
	o, err := orderOfKey(ctx, tx, keyHash, id)
	if err != nil {
		return fmt.Errorf("sandbox: cancel order: %w", err)
	}
	if !o.activeAt(nowMS) {
		return errOrderNotActive
	}
	if _, err := tx.ExecContext(ctx, "UPDATE orders SET cancelled_ms = ? WHERE id = ?", nowMS, id); err != nil {
		return fmt.Errorf("sandbox: cancel order: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sandbox: cancel order: %w", err)
	}
	return nil
}

// endSpotOrder ends the active spot order id at nowMS, whatever key owns it,
// and marks its server rented by someone else for hold: what an outbid does.
func (st *store) endSpotOrder(ctx context.Context, id, nowMS int64, hold time.Duration) error {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	o, err := scanOrder(tx.QueryRowContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errOrderNotFound
	case err != nil:
		return err
	case !o.Spot:
		return ErrNotSpot
	case !o.activeAt(nowMS):
		return errOrderNotActive
	}
	if _, err := tx.ExecContext(ctx, "UPDATE orders SET ends_ms = ? WHERE id = ?", nowMS, id); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO rented_by_other (server_id, until_ms) VALUES (?, ?)
		 ON CONFLICT (server_id) DO UPDATE SET until_ms = excluded.until_ms`, o.ServerID, nowMS+hold.Milliseconds())
	if err != nil {
		return err
	}
	return tx.Commit()
}

// spotDecision is what decide answers for a spot price change: either a new
// price or a rejection to pass back to the caller unchanged.
type spotDecision struct {
	price   float64
	lowered bool
	reject  error
}

// updateSpotPrice changes the bid of an active spot order of keyHash. decide
// sees the current order inside the transaction.
func (st *store) updateSpotPrice(ctx context.Context, keyHash string, id, nowMS int64, decide func(order) spotDecision) error {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sandbox: set spot price: %w", err)
	}
	defer tx.Rollback()
	o, err := orderOfKey(ctx, tx, keyHash, id)
	if err != nil {
		return fmt.Errorf("sandbox: set spot price: %w", err)
	}
	if !o.activeAt(nowMS) {
		return errOrderNotActive
	}
	d := decide(o)
	if d.reject != nil {
		return d.reject
	}
	lowered := sql.NullInt64{Int64: o.LoweredMS, Valid: o.LoweredMS != 0}
	if d.lowered {
		lowered = sql.NullInt64{Int64: nowMS, Valid: true}
	}
	_, err = tx.ExecContext(ctx,
		"UPDATE orders SET spend_before = ?, price = ?, price_since_ms = ?, lowered_ms = ? WHERE id = ?",
		o.spendAt(nowMS), d.price, nowMS, lowered, id)
	if err != nil {
		return fmt.Errorf("sandbox: set spot price: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sandbox: set spot price: %w", err)
	}
	return nil
}
