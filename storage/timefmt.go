package storage

import (
	"database/sql"
	"fmt"
	"time"
)

// timeLayout is RFC 3339 with fixed-width nanoseconds. Unlike
// time.RFC3339Nano it never trims zeros, so stored strings sort as times.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// formatTime renders t in UTC for storage.
func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// formatNullTime renders an optional time; nil is NULL.
func formatNullTime(t *time.Time) sql.NullString {
	if t == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: formatTime(*t), Valid: true}
}

// parseTime reads a stored time back, in UTC.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// parseNullTime reads an optional stored time; NULL is nil.
func parseNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}
