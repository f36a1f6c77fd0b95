package storage

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// ErrSchemaTooNew is returned (wrapped, with both versions in the message)
// when the database was migrated by a newer clorebot than this one.
var ErrSchemaTooNew = errors.New("storage: database schema is newer than this build")

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one embedded NNNN_name.sql file.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads dir of fsys, sorted by version. Versions must be
// positive and unique; fs.ReadDir returns names sorted, and zero-padded
// numbers sort as numbers.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var migs []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m, err := parseMigrationName(e.Name())
		if err != nil {
			return nil, err
		}
		if n := len(migs); n > 0 && migs[n-1].version >= m.version {
			return nil, fmt.Errorf("migration %s: version %d repeats or is out of order", e.Name(), m.version)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		m.sql = string(b)
		migs = append(migs, m)
	}
	return migs, nil
}

// parseMigrationName splits "0001_init.sql" into version 1 and name "init".
func parseMigrationName(file string) (migration, error) {
	num, name, ok := strings.Cut(strings.TrimSuffix(file, ".sql"), "_")
	if !ok || name == "" || len(num) != 4 {
		return migration{}, fmt.Errorf("migration %s: want NNNN_name.sql", file)
	}
	v, err := strconv.Atoi(num)
	if err != nil || v <= 0 {
		return migration{}, fmt.Errorf("migration %s: want a positive four-digit version", file)
	}
	return migration{version: v, name: name}, nil
}

// latestVersion is the highest embedded migration version.
func (s *Store) latestVersion() int {
	if len(s.migrations) == 0 {
		return 0
	}
	return s.migrations[len(s.migrations)-1].version
}

// querier is what schemaVersion needs from a pool or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion is the highest recorded migration, 0 for a fresh database.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v int
	err = q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// SchemaVersion returns the highest migration recorded in the database, 0
// when none has been applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, s.read)
	if err != nil {
		return 0, fmt.Errorf("storage: schema version: %w", err)
	}
	return v, nil
}

// tooNew wraps ErrSchemaTooNew when version is beyond what this build knows.
func (s *Store) tooNew(version int) error {
	if version > s.latestVersion() {
		return fmt.Errorf("%w: database is at version %d, this build knows up to version %d",
			ErrSchemaTooNew, version, s.latestVersion())
	}
	return nil
}

// checkNotTooNew is Open's guard against a schema from a newer clorebot.
func (s *Store) checkNotTooNew(ctx context.Context) error {
	v, err := schemaVersion(ctx, s.read)
	if err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	return s.tooNew(v)
}

// Migrate applies every pending embedded migration, each in its own
// transaction together with its schema_migrations row, and returns the
// versions it applied (none when the schema is current). It refuses, with
// [ErrSchemaTooNew], a database newer than this build. Several processes may
// call it at once: each migration re-checks the version under the write lock.
func (s *Store) Migrate(ctx context.Context) (applied []int, err error) {
	if err := s.ensureMigrationsTable(ctx); err != nil {
		return nil, fmt.Errorf("storage: migrate: %w", err)
	}
	for _, m := range s.migrations {
		done, err := s.applyMigration(ctx, m)
		if err != nil {
			return applied, fmt.Errorf("storage: migrate: %w", err)
		}
		if done {
			applied = append(applied, m.version)
		}
	}
	return applied, nil
}

// ensureMigrationsTable creates schema_migrations on a fresh database.
func (s *Store) ensureMigrationsTable(ctx context.Context) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	) STRICT`)
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return tx.Commit()
}

// applyMigration runs m unless the database already has it. It reports
// whether it applied m.
func (s *Store) applyMigration(ctx context.Context, m migration) (bool, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	current, err := schemaVersion(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("schema version: %w", err)
	}
	if err := s.tooNew(current); err != nil {
		return false, err
	}
	var n int
	err = tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check version %d: %w", m.version, err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("apply %04d_%s: %w", m.version, m.name, err)
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, formatTime(s.now()))
	if err != nil {
		return false, fmt.Errorf("record %04d_%s: %w", m.version, m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit %04d_%s: %w", m.version, m.name, err)
	}
	return true, nil
}
