package storage

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/storage/storagetest"
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// epoch is the fake clock's start, deliberately not in UTC.
var epoch = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

// tempDBPath is a fresh database path in its own temporary directory.
// With CLOREBOT_TEST_POSTGRES_URL set it is a fresh PostgreSQL database's
// URL instead (storagetest.URL), which Open takes as well.
func tempDBPath(t *testing.T) string {
	t.Helper()
	if u := storagetest.URL(t); u != "" {
		return u
	}
	return filepath.Join(t.TempDir(), "clorebot.db")
}

// openStore opens path (without migrating) and closes it at cleanup.
func openStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newStore opens and migrates a store on path with a fake clock.
func newStoreAt(t *testing.T, path string) (*Store, *fakeClock) {
	t.Helper()
	s := openStore(t, path)
	clock := newFakeClock(epoch)
	s.Now = clock.Now
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s, clock
}

// newStore is newStoreAt on a fresh temporary database. On SQLite the
// file is a copy of one migrated once for the package (the migration tests
// migrate their own), so Migrate finds nothing left to apply.
func newStore(t *testing.T) (*Store, *fakeClock) {
	t.Helper()
	path := tempDBPath(t)
	if !storagetest.Postgres() {
		storagetest.CopyTemplate(t, path, migrateAt)
	}
	return newStoreAt(t, path)
}

// migratedDBPath is tempDBPath with, on SQLite, a copy of the package's
// migrated template there already: for a test that opens the path itself
// (two stores on one file, a reopen) and is not about migrating.
func migratedDBPath(t *testing.T) string {
	t.Helper()
	path := tempDBPath(t)
	if !storagetest.Postgres() {
		storagetest.CopyTemplate(t, path, migrateAt)
	}
	return path
}

// migrateAt migrates a new database at path and closes it: the template
// storagetest.CopyTemplate copies.
func migrateAt(path string) error {
	s, err := OpenAndMigrate(context.Background(), path)
	if err != nil {
		return err
	}
	return s.Close()
}

func ptr[T any](v T) *T { return &v }

// queryPlan is SQLite's EXPLAIN QUERY PLAN of q on s's readers, its steps
// joined with "; ".
func queryPlan(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	storagetest.Skip(t, "SQLite's query plans")
	rows, err := s.read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}
