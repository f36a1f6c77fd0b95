// Package storagetest gives tests a database of their own on either of
// storage's backends: a fresh PostgreSQL database when the environment
// variable CLOREBOT_TEST_POSTGRES_URL names a server, else nothing (the
// caller uses SQLite in t.TempDir()). Only tests import it.
//
// The variable is a connection URL to an existing database on the server
// (postgres://user@127.0.0.1:5432/postgres?sslmode=disable); the user must
// be allowed to CREATE DATABASE. Each call creates a database with a random
// name and drops it (WITH (FORCE)) when the test ends.
package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// EnvURL is the environment variable that turns PostgreSQL tests on.
const EnvURL = "CLOREBOT_TEST_POSTGRES_URL"

// Postgres reports whether the tests run against PostgreSQL.
func Postgres() bool { return os.Getenv(EnvURL) != "" }

// URL returns the URL of a fresh, empty PostgreSQL database for t, dropped
// at t's cleanup, or "" when [EnvURL] is not set.
func URL(t testing.TB) string {
	t.Helper()
	server := os.Getenv(EnvURL)
	if server == "" {
		return ""
	}
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("storagetest: %s is not a URL", EnvURL)
	}
	name := "clorebot_test_" + strings.ToLower(rand.Text()[:16])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatalf("storagetest: open the server: %v", err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("storagetest: create database: %v", err)
	}
	t.Cleanup(func() { drop(t, server, name) })
	u.Path = "/" + name
	return u.String()
}

// drop removes the database name, closing what is still connected to it.
func drop(t testing.TB, server, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Errorf("storagetest: open the server: %v", err)
		return
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
		t.Errorf("storagetest: drop database %s: %v", name, err)
	}
}

// Skip skips t, giving reason, when the tests run against PostgreSQL: for
// tests about SQLite itself (its files, WAL, pragmas, query plans).
func Skip(t testing.TB, reason string) {
	t.Helper()
	if Postgres() {
		t.Skip("SQLite only: " + reason)
	}
}

// databases maps a SQLite path a test names to the PostgreSQL database that
// stands for it (At).
var databases sync.Map

// At is what to open for the SQLite database file path: path itself on
// SQLite; with [EnvURL] set, the URL of a fresh PostgreSQL database made at
// path's first call and the same one at every later call for path (a second
// process, a CLI run or a raw read on "the same file"), dropped when the test
// of the first call ends: when subtests share path (a restart), call it
// in their parent first. storage.Open and storage.OpenAndMigrate take
// either.
func At(t testing.TB, path string) string {
	t.Helper()
	if !Postgres() {
		return path
	}
	if u, ok := databases.Load(path); ok {
		return u.(string)
	}
	u := URL(t)
	if prev, loaded := databases.LoadOrStore(path, u); loaded {
		return prev.(string)
	}
	t.Cleanup(func() { databases.Delete(path) })
	return u
}

// OpenSQL opens a plain database/sql handle on at (a path or URL from [At])
// for a test to read rows straight from the tables: read-only on a SQLite
// file, the "pgx" driver on PostgreSQL (whose placeholders are $1, $2…;
// queries without any run on both). It is closed when the test ends.
func OpenSQL(t testing.TB, at string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if strings.HasPrefix(at, "postgres://") || strings.HasPrefix(at, "postgresql://") {
		db, err = sql.Open("pgx", at)
	} else {
		db, err = sql.Open("sqlite", "file:"+at+"?mode=ro&_pragma=busy_timeout(5000)")
	}
	if err != nil {
		t.Fatalf("storagetest: open %s: %v", at, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
