package storage

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/storage/storagetest"
)

func TestPragmasInEffect(t *testing.T) {
	storagetest.Skip(t, "pragmas")
	s, _ := newStore(t)
	pools := []struct {
		name      string
		db        *sql.DB
		queryOnly string
	}{
		{"writer", s.write, "0"},
		{"reader", s.read, "1"},
	}
	for _, p := range pools {
		t.Run(p.name, func(t *testing.T) {
			want := map[string]string{
				"journal_mode": "wal",
				"foreign_keys": "1",
				"busy_timeout": "5000",
				"synchronous":  "1", // NORMAL
				"query_only":   p.queryOnly,
			}
			for name, w := range want {
				var got string
				if err := p.db.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&got); err != nil {
					t.Fatalf("PRAGMA %s: %v", name, err)
				}
				if strings.ToLower(got) != w {
					t.Errorf("PRAGMA %s = %q, want %q", name, got, w)
				}
			}
		})
	}
	if n := s.write.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer MaxOpenConnections = %d, want 1", n)
	}
}

func TestReaderCannotWrite(t *testing.T) {
	s, _ := newStore(t)
	_, err := s.read.ExecContext(context.Background(),
		`INSERT INTO audit (at) VALUES ('2025-01-01T00:00:00.000000000Z')`)
	if err == nil {
		t.Fatal("insert through the reader pool succeeded, want a query_only error")
	}
}

func TestOpenPaths(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
	}{
		{"missing parent directories", filepath.Join(dir, "a", "b", "c.db")},
		{"URI special characters", filepath.Join(dir, "we?ird #name%20 & co.db")},
		{"unclean path", dir + "//x/../clorebot.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStoreAt(t, tt.path)
			if err := s.Ping(context.Background()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if _, err := os.Stat(filepath.Clean(tt.path)); err != nil {
				t.Fatalf("database file not at the given path: %v", err)
			}
		})
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		t.Run(path, func(t *testing.T) {
			s, err := Open(context.Background(), path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want an error", path)
			}
		})
	}
}

func TestTimesRoundTripAsUTC(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	zone := time.FixedZone("UTC-7", -7*3600)
	created := time.Date(2025, 6, 1, 8, 0, 0, 123456789, zone)
	expires := time.Date(2025, 6, 1, 20, 0, 0, 0, zone)
	o := Order{ServerID: 1, State: OrderCreating, CreatedAt: created, ExpiresAt: &expires}
	if err := s.CreateOrder(ctx, &o); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	got, err := s.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	checks := []struct {
		name      string
		got, want time.Time
	}{
		{"created_at", got.CreatedAt, created},
		{"updated_at", got.UpdatedAt, epoch},
		{"expires_at", *got.ExpiresAt, expires},
	}
	for _, c := range checks {
		if !c.got.Equal(c.want) || c.got.Location() != time.UTC {
			t.Errorf("%s = %v, want %v in UTC", c.name, c.got, c.want.UTC())
		}
	}
	var raw string
	if err := s.read.QueryRowContext(ctx, `SELECT created_at FROM orders WHERE id = ?`, o.ID).Scan(&raw); err != nil {
		t.Fatalf("read raw created_at: %v", err)
	}
	if want := "2025-06-01T15:00:00.123456789Z"; raw != want {
		t.Errorf("stored created_at = %q, want %q", raw, want)
	}
}

func TestStoredTimesSortAsTimes(t *testing.T) {
	a := time.Date(2025, 1, 1, 0, 0, 5, 0, time.UTC)
	b := a.Add(100 * time.Millisecond)
	if fa, fb := formatTime(a), formatTime(b); fa >= fb {
		t.Fatalf("formatTime(%v) = %q sorts after formatTime(%v) = %q", a, fa, b, fb)
	}
}

func TestDataSurvivesCloseAndReopen(t *testing.T) {
	ctx := context.Background()
	path := migratedDBPath(t)
	s, err := OpenAndMigrate(ctx, path)
	if err != nil {
		t.Fatalf("OpenAndMigrate: %v", err)
	}
	o := Order{ServerID: 7, CloreOrderID: ptr(int64(70)), State: OrderRunning}
	if err := s.CreateOrder(ctx, &o); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	if _, err := s.AppendAudit(ctx, AuditEntry{Actor: "cli:me", Command: "rent 4090", Outcome: "ok"}); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	slot, err := s.ReserveSlot(ctx, "k", epoch, map[string]time.Duration{"any": time.Second})
	if err != nil {
		t.Fatalf("ReserveSlot: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	r := openStore(t, path)
	if _, err := r.GetOrderByCloreID(ctx, 70); err != nil {
		t.Errorf("order lost across reopen: %v", err)
	}
	if audit, err := r.ListAudit(ctx, AuditFilter{}); err != nil || len(audit) != 1 {
		t.Errorf("audit after reopen = %v, %v; want one entry", audit, err)
	}
	next, err := r.NextSlot(ctx, "k", []string{"any"})
	if r.pg && err == nil {
		// Each store moves slots onto the server's clock by the offset it
		// measured and pads them by its error: milliseconds, never less.
		if d := next.Sub(slot.Add(time.Second)); d >= 0 && d < 50*time.Millisecond {
			next = slot.Add(time.Second)
		}
	}
	if err != nil || !next.Equal(slot.Add(time.Second)) {
		t.Errorf("NextSlot after reopen = %v, %v; want %v", next, err, slot.Add(time.Second))
	}
}

func TestPingAfterClose(t *testing.T) {
	s, err := Open(context.Background(), tempDBPath(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("Ping after Close succeeded, want an error")
	}
}
