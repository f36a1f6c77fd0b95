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
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
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
