package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// Store keeps the spend ledger, the budget alerts and the digest slots.
var _ commands.SpendStore = (*Store)(nil)

// dayLayout and monthLayout are how spend_days and spend_months name their
// UTC day and month.
const (
	dayLayout   = "2006-01-02"
	monthLayout = "2006-01"
)

// toNano is a USD amount in integer nano-dollars, rounded half away from zero.
func toNano(usd float64) int64 {
	return int64(math.Round(usd * 1e9))
}

// SettledSpendOrders returns the Clore order ids whose final spend is
// recorded.
func (s *Store) SettledSpendOrders(ctx context.Context) ([]int64, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT clore_order_id FROM spend_orders WHERE settled_at IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("storage: settled spend orders: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("storage: settled spend orders: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: settled spend orders: %w", err)
	}
	return ids, nil
}

// spendKey is what a day's spend is summed under.
type spendKey struct{ owner, door, gpu string }

// spendOrderRow is an order's row of spend_orders.
type spendOrderRow struct {
	key       spendKey
	spentNano int64
	sampledAt time.Time
	settled   bool
}

// RecordSpend implements [commands.SpendStore]: in one transaction, each
// sample's difference to the recorded cumulative spend is spread over the
// UTC days it covers (pro rata by time), into spend_order_days and the sums
// spend_days and spend_months; an Ended sample settles its order. Samples
// of settled orders change nothing, so a figure recorded twice (a restart,
// another process) counts once.
func (s *Store) RecordSpend(ctx context.Context, at time.Time, samples []commands.SpendSample) ([]int64, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("storage: record spend: %w", err)
	}
	defer tx.Rollback()
	at = at.UTC()
	var settled []int64
	for _, sm := range samples {
		done, err := recordSample(ctx, tx, at, sm)
		if err != nil {
			return nil, fmt.Errorf("storage: record spend: order %d: %w", sm.CloreOrderID, err)
		}
		if done {
			settled = append(settled, sm.CloreOrderID)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("storage: record spend: %w", err)
	}
	return settled, nil
}

// recordSample writes one sample; done reports whether the order is
// settled (by this sample or before).
func recordSample(ctx context.Context, tx *sql.Tx, at time.Time, sm commands.SpendSample) (done bool, err error) {
	key := spendKey{sm.Owner, sm.Door, sm.GPU}
	nano := toNano(sm.SpentUSD)
	row, found, err := spendOrder(ctx, tx, sm.CloreOrderID)
	if err != nil || row.settled {
		return row.settled, err
	}
	var from, to time.Time
	var delta int64
	if !found {
		from, to = sm.CreatedAt.UTC(), at
		if sm.PaidFor > 0 && from.Add(sm.PaidFor).Before(at) {
			to = from.Add(sm.PaidFor)
		}
		delta = nano
		_, err = tx.ExecContext(ctx, `INSERT INTO spend_orders (clore_order_id, owner, door, gpu, gpu_count, created_at, spent_nano, sampled_at)
			VALUES (?, ?, ?, ?, ?, ?, 0, ?)`, sm.CloreOrderID, key.owner, key.door, key.gpu, sm.GPUCount, formatTime(from), formatTime(at))
		if err != nil {
			return false, err
		}
	} else {
		if key.owner == "" || key == row.key {
			key = row.key // an order is attributed once known; a sample without an owner changes nothing
		} else if err := moveOrderSpend(ctx, tx, sm.CloreOrderID, row.key, key); err != nil {
			return false, err
		}
		from, to, delta = row.sampledAt, at, nano-row.spentNano
	}
	if err := spreadSpend(ctx, tx, sm.CloreOrderID, key, from, to, delta); err != nil {
		return false, err
	}
	var settledAt sql.NullString
	if sm.Ended {
		settledAt = sql.NullString{String: formatTime(at), Valid: true}
	}
	_, err = tx.ExecContext(ctx, `UPDATE spend_orders SET owner = ?, door = ?, gpu = ?, spent_nano = ?, sampled_at = ?, settled_at = ?
		WHERE clore_order_id = ?`, key.owner, key.door, key.gpu, nano, formatTime(at), settledAt, sm.CloreOrderID)
	return sm.Ended, err
}

// spendOrder reads an order's row of spend_orders; found is false when
// there is none.
func spendOrder(ctx context.Context, tx *sql.Tx, id int64) (row spendOrderRow, found bool, err error) {
	var sampled string
	var settled sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT owner, door, gpu, spent_nano, sampled_at, settled_at FROM spend_orders WHERE clore_order_id = ?`, id).
		Scan(&row.key.owner, &row.key.door, &row.key.gpu, &row.spentNano, &sampled, &settled)
	if errors.Is(err, sql.ErrNoRows) {
		return row, false, nil
	}
	if err != nil {
		return row, false, err
	}
	row.settled = settled.Valid
	row.sampledAt, err = parseTime(sampled)
	return row, true, err
}

// moveOrderSpend moves what an order spent on each day from one key to
// another in the sums (the order's owner became known).
func moveOrderSpend(ctx context.Context, tx *sql.Tx, id int64, from, to spendKey) error {
	rows, err := tx.QueryContext(ctx, `SELECT day, nano FROM spend_order_days WHERE clore_order_id = ?`, id)
	if err != nil {
		return err
	}
	type dayNano struct {
		day  string
		nano int64
	}
	var days []dayNano
	for rows.Next() {
		var d dayNano
		if err := rows.Scan(&d.day, &d.nano); err != nil {
			rows.Close()
			return err
		}
		days = append(days, d)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, d := range days {
		if err := addDaySums(ctx, tx, d.day, from, -d.nano); err != nil {
			return err
		}
		if err := addDaySums(ctx, tx, d.day, to, d.nano); err != nil {
			return err
		}
	}
	return nil
}

// spreadSpend adds delta nano-dollars of the order to the UTC days from
// `from` to `to`, each its share of the time (all of it to from's day when
// the span is empty); the last day takes the rounding remainder, so that
// the days add up to delta exactly.
func spreadSpend(ctx context.Context, tx *sql.Tx, id int64, key spendKey, from, to time.Time, delta int64) error {
	if delta == 0 {
		return nil
	}
	if !to.After(from) {
		to = from
	}
	span := to.Sub(from)
	left := delta
	for day := dayOf(from); !day.After(to); day = day.AddDate(0, 0, 1) {
		next := day.AddDate(0, 0, 1)
		share := left
		if next.Before(to) && span > 0 {
			start := day
			if from.After(day) {
				start = from
			}
			overlap := next.Sub(start) // next is before to

			share = int64(math.Round(float64(delta) * float64(overlap) / float64(span)))
			share = clampShare(share, left)
		}
		if share != 0 {
			if err := addOrderDay(ctx, tx, id, key, day.Format(dayLayout), share); err != nil {
				return err
			}
		}
		left -= share
		if !next.Before(to) {
			break
		}
	}
	return nil
}

// clampShare keeps a day's share within what is left to spread, on the
// same side of zero.
func clampShare(share, left int64) int64 {
	if left >= 0 {
		return max(min(share, left), 0)
	}
	return min(max(share, left), 0)
}

// dayOf is t's midnight, UTC.
func dayOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// addOrderDay adds nano to the order's day and to the day's and month's sums.
func addOrderDay(ctx context.Context, tx *sql.Tx, id int64, key spendKey, day string, nano int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO spend_order_days (clore_order_id, day, nano) VALUES (?, ?, ?)
		ON CONFLICT (clore_order_id, day) DO UPDATE SET nano = spend_order_days.nano + excluded.nano`, id, day, nano); err != nil {
		return err
	}
	return addDaySums(ctx, tx, day, key, nano)
}

// addDaySums adds nano to key's sums of day and of its month.
func addDaySums(ctx context.Context, tx *sql.Tx, day string, key spendKey, nano int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO spend_days (day, owner, door, gpu, nano) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (day, owner, door, gpu) DO UPDATE SET nano = spend_days.nano + excluded.nano`, day, key.owner, key.door, key.gpu, nano); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO spend_months (month, owner, nano) VALUES (?, ?, ?)
		ON CONFLICT (month, owner) DO UPDATE SET nano = spend_months.nano + excluded.nano`, day[:7], key.owner, nano)
	return err
}

// SpendDays implements [commands.SpendStore].
func (s *Store) SpendDays(ctx context.Context, from, to time.Time, owner string) ([]commands.SpendDay, error) {
	q := `SELECT day, owner, door, gpu, nano FROM spend_days WHERE day >= ? AND day < ? AND nano <> 0`
	args := []any{from.UTC().Format(dayLayout), to.UTC().Format(dayLayout)}
	if owner != "" {
		q += ` AND owner = ?`
		args = append(args, owner)
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: spend days: %w", err)
	}
	defer rows.Close()
	var out []commands.SpendDay
	var day, last string
	var lastDay time.Time
	for rows.Next() {
		var d commands.SpendDay
		var nano int64
		if err := rows.Scan(&day, &d.Owner, &d.Door, &d.GPU, &nano); err != nil {
			return nil, fmt.Errorf("storage: spend days: %w", err)
		}
		if day != last {
			if lastDay, err = time.Parse(dayLayout, day); err != nil {
				return nil, fmt.Errorf("storage: spend days: %w", err)
			}
			last = day
		}
		d.Day, d.USD = lastDay, float64(nano)/1e9
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: spend days: %w", err)
	}
	return out, nil
}

// SpendMonth implements [commands.SpendStore].
func (s *Store) SpendMonth(ctx context.Context, month time.Time) (map[string]float64, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT owner, nano FROM spend_months WHERE month = ?`, month.UTC().Format(monthLayout))
	if err != nil {
		return nil, fmt.Errorf("storage: spend month: %w", err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var owner string
		var nano int64
		if err := rows.Scan(&owner, &nano); err != nil {
			return nil, fmt.Errorf("storage: spend month: %w", err)
		}
		out[owner] = float64(nano) / 1e9
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: spend month: %w", err)
	}
	return out, nil
}

// MarkBudgetAlert implements [commands.SpendStore].
func (s *Store) MarkBudgetAlert(ctx context.Context, a commands.BudgetAlert, at time.Time, events ...commands.Event) (bool, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("storage: mark budget alert: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO budget_alerts (month, scope, owner, level, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, a.Month.UTC().Format(monthLayout), a.Scope, a.Owner, a.Level, formatTime(at))
	if err != nil {
		return false, fmt.Errorf("storage: mark budget alert: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	if _, err := appendEvents(ctx, tx, events, s.now()); err != nil {
		return false, fmt.Errorf("storage: mark budget alert: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("storage: mark budget alert: %w", err)
	}
	return true, nil
}

// ClaimDigestSlot implements [commands.SpendStore].
func (s *Store) ClaimDigestSlot(ctx context.Context, slot time.Time, owner string, now, until time.Time) (bool, error) {
	res, err := s.write.ExecContext(ctx, `INSERT INTO digest_slots (slot, claimed_by, claimed_until) VALUES (?1, ?2, ?3)
		ON CONFLICT (slot) DO UPDATE SET claimed_by = ?2, claimed_until = ?3
		WHERE digest_slots.posted_at IS NULL AND (digest_slots.claimed_until < ?4 OR digest_slots.claimed_by = ?2)`,
		formatTime(slot), owner, formatTime(until), formatTime(now))
	if err != nil {
		return false, fmt.Errorf("storage: claim digest slot: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("storage: claim digest slot: %w", err)
	}
	return n == 1, nil
}

// MarkDigestPosted implements [commands.SpendStore].
func (s *Store) MarkDigestPosted(ctx context.Context, slot, at time.Time) error {
	if _, err := s.write.ExecContext(ctx, `UPDATE digest_slots SET posted_at = ? WHERE slot = ? AND posted_at IS NULL`,
		formatTime(at), formatTime(slot)); err != nil {
		return fmt.Errorf("storage: mark digest posted: %w", err)
	}
	return nil
}

// UnpostedDigestSlots implements [commands.SpendStore].
func (s *Store) UnpostedDigestSlots(ctx context.Context, now time.Time) ([]time.Time, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT slot FROM digest_slots WHERE posted_at IS NULL AND claimed_until < ? ORDER BY slot`, formatTime(now))
	if err != nil {
		return nil, fmt.Errorf("storage: unposted digest slots: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("storage: unposted digest slots: %w", err)
		}
		t, err := parseTime(v)
		if err != nil {
			return nil, fmt.Errorf("storage: unposted digest slots: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: unposted digest slots: %w", err)
	}
	return out, nil
}
