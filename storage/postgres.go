package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// pgReaderConns is the size of the read pool on PostgreSQL, whose server
// serves reads in parallel.
const pgReaderConns = 8

// OpenPostgres opens the PostgreSQL database at url ("postgres://…" or
// "postgresql://…", storage.url) through pgx's database/sql driver. Like
// [Open] it applies no migration but fails with [ErrSchemaTooNew] when a
// newer clorebot migrated the database. The writer pool has one
// connection, as on SQLite, and each of its transactions takes the
// database-wide write lock (writeLockKey), so writes from every process
// on the database run one after the other. The store's default clock
// follows the database server's (clock.go). Errors never carry the URL,
// which may hold a password.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	if !isPostgresURL(url) {
		return nil, errors.New("storage: open: storage.url must start with postgres:// or postgresql://")
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("storage: open postgres: %w", err)
	}
	migs, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	if err := checkPGMigrations(migs); err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	// path keeps the URL for tests that open a second Store on the same
	// database; no error or log shows it.
	s := &Store{pg: true, path: url, migrations: migs, intake: newIntakeWriter()}
	where := fmt.Sprintf("postgres database %q on %s", cfg.Database, cfg.Host)
	s.write = sql.OpenDB(newPGConnector(cfg, true))
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	readCfg := cfg.Copy()
	// Readers cannot write, as SQLite's query_only readers cannot.
	readCfg.RuntimeParams["default_transaction_read_only"] = "on"
	s.read = sql.OpenDB(newPGConnector(readCfg, false))
	s.read.SetMaxOpenConns(pgReaderConns)
	s.read.SetMaxIdleConns(pgReaderConns)
	if err := s.Ping(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("storage: open %s: %w", where, err), s.Close())
	}
	if err := s.checkNotTooNew(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("storage: open %s: %w", where, err), s.Close())
	}
	if s.clock, err = startServerClock(ctx, s.read); err != nil {
		return nil, errors.Join(fmt.Errorf("storage: open %s: %w", where, err), s.Close())
	}
	s.Now = s.clock.now
	return s, nil
}

// isPostgresURL reports whether s names a PostgreSQL database.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Postgres reports whether the store is on PostgreSQL.
func (s *Store) Postgres() bool { return s.pg }

// sq picks the text of a statement whose SQLite and PostgreSQL spellings
// differ.
func (s *Store) sq(sqlite, postgres string) string {
	if s.pg {
		return postgres
	}
	return sqlite
}
