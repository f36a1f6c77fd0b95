package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SaveSnapshot stores data, the command layer's encoding of its snapshot of
// kind ("market", "orders") taken at `at`, in place of the stored one of
// that kind, unless the stored one was taken later: two processes on one
// file never roll each other's snapshot back.
func (s *Store) SaveSnapshot(ctx context.Context, kind string, at time.Time, data []byte) error {
	if kind == "" {
		return errors.New("storage: save snapshot: empty kind")
	}
	if data == nil {
		data = []byte{}
	}
	_, err := s.write.ExecContext(ctx, `INSERT INTO snapshots (kind, taken_at, data) VALUES (?, ?, ?)
		ON CONFLICT (kind) DO UPDATE SET taken_at = excluded.taken_at, data = excluded.data
		WHERE excluded.taken_at >= snapshots.taken_at`, kind, formatTime(at), data)
	if err != nil {
		return fmt.Errorf("storage: save snapshot %s: %w", kind, err)
	}
	return nil
}

// LoadSnapshot returns the stored snapshot of kind and when it was taken,
// or ErrNotFound when none is stored.
func (s *Store) LoadSnapshot(ctx context.Context, kind string) (data []byte, at time.Time, err error) {
	var taken string
	err = s.read.QueryRowContext(ctx, `SELECT taken_at, data FROM snapshots WHERE kind = ?`, kind).Scan(&taken, &data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, time.Time{}, fmt.Errorf("storage: load snapshot %s: %w", kind, ErrNotFound)
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("storage: load snapshot %s: %w", kind, err)
	}
	if at, err = parseTime(taken); err != nil {
		return nil, time.Time{}, fmt.Errorf("storage: load snapshot %s: %w", kind, err)
	}
	return data, at, nil
}
