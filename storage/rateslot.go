package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ReserveSlot reserves the next moment at which a request that counts
// against every lane in lanes may be sent for key, and returns it. key
// identifies the rate-limited principal (a hash of the Clore API key, never the
// key itself); each lane maps to the minimum spacing between two requests in
// that lane, e.g. {"any": time.Second, "create": 5 * time.Second} for a
// create_order call and {"any": time.Second} for any other call.
//
// In one immediate transaction, the slot is the latest of now and every named
// lane's next free time; each named lane's next free time then becomes slot
// plus its spacing. Because the state is in the database, every process on
// the same file shares it. A zero now means the store's clock. The caller
// waits until the returned slot before sending. On PostgreSQL a given now,
// and the slot returned, are on the caller's host clock; the slots stored
// are on the database server's (hostToServer), so that processes on hosts
// whose clocks disagree still keep the spacing in real time.
func (s *Store) ReserveSlot(ctx context.Context, key string, now time.Time, lanes map[string]time.Duration) (time.Time, error) {
	if err := checkLanes(key, len(lanes)); err != nil {
		return time.Time{}, fmt.Errorf("storage: reserve slot: %w", err)
	}
	names := make([]string, 0, len(lanes))
	for lane, d := range lanes {
		if d < 0 {
			return time.Time{}, fmt.Errorf("storage: reserve slot: lane %q has negative spacing %s", lane, d)
		}
		names = append(names, lane)
	}
	slices.Sort(names)
	// pad covers the error of the measured offset: the caller waits that
	// much longer, and the lanes stay closed that much longer after it, so
	// that two processes with their own errors keep the spacing.
	off, pad := s.hostToServer()
	if now.IsZero() {
		now, off, pad = s.now(), 0, 0 // the store's clock already
	} else {
		now = now.Add(off)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("storage: reserve slot: %w", err)
	}
	defer tx.Rollback()
	slot := now.UnixNano()
	next, err := maxNextAt(ctx, tx, key, names)
	if err != nil {
		return time.Time{}, fmt.Errorf("storage: reserve slot: %w", err)
	}
	slot = max(slot, next)
	for _, lane := range names {
		_, err := tx.ExecContext(ctx, `INSERT INTO clore_rate_slots (key, lane, next_at)
			VALUES (?, ?, ?) ON CONFLICT (key, lane) DO UPDATE SET next_at = excluded.next_at`,
			key, lane, slot+int64(lanes[lane]+2*pad))
		if err != nil {
			return time.Time{}, fmt.Errorf("storage: reserve slot: lane %q: %w", lane, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return time.Time{}, fmt.Errorf("storage: reserve slot: %w", err)
	}
	return time.Unix(0, slot).Add(pad - off).UTC(), nil
}

// NextSlot returns the latest next free time of the named lanes for key:
// the earliest moment a request counting against all of them could be sent
// without a wait. It is the zero time when none of them was ever reserved.
// It reserves nothing.
func (s *Store) NextSlot(ctx context.Context, key string, lanes []string) (time.Time, error) {
	if err := checkLanes(key, len(lanes)); err != nil {
		return time.Time{}, fmt.Errorf("storage: next slot: %w", err)
	}
	next, err := maxNextAt(ctx, s.read, key, lanes)
	if err != nil {
		return time.Time{}, fmt.Errorf("storage: next slot: %w", err)
	}
	if next == 0 {
		return time.Time{}, nil
	}
	off, pad := s.hostToServer()
	return time.Unix(0, next).Add(pad - off).UTC(), nil
}

// checkLanes rejects calls that would reserve nothing.
func checkLanes(key string, n int) error {
	if key == "" {
		return errors.New("key is required")
	}
	if n == 0 {
		return errors.New("at least one lane is required")
	}
	return nil
}

// maxNextAt is the largest next_at of the named lanes, 0 when none exists.
func maxNextAt(ctx context.Context, q querier, key string, lanes []string) (int64, error) {
	args := make([]any, 0, len(lanes)+1)
	args = append(args, key)
	for _, l := range lanes {
		args = append(args, l)
	}
	var next int64
	err := q.QueryRowContext(ctx, `SELECT coalesce(max(next_at), 0) FROM clore_rate_slots
		WHERE key = ? AND lane IN (?`+strings.Repeat(`, ?`, len(lanes)-1)+`)`, args...).Scan(&next)
	return next, err
}
