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

// migration is one embedded NNNN_name.sql file, with its PostgreSQL
// spelling NNNN_name.pg.sql. PostgreSQL support begins at pgBaseline: its
// file creates the whole schema of that version, and the versions before
// it have no PostgreSQL file (they are folded into the baseline). Every
// later version must have both files.
type migration struct {
	version int
	name    string
	sql     string
	pg      string
}

// pgBaseline is the first version with a PostgreSQL file, the schema in
// full; a fresh PostgreSQL database records it and every version before it
// in one transaction.
const pgBaseline = 26

// pgSuffix ends a migration's PostgreSQL file.
const pgSuffix = ".pg.sql"

// checkPGMigrations rejects a migration list that PostgreSQL cannot follow:
// a version from pgBaseline on without its PostgreSQL file.
func checkPGMigrations(migs []migration) error {
	for _, m := range migs {
		if m.version >= pgBaseline && m.pg == "" {
			return fmt.Errorf("migration %04d_%s has no PostgreSQL file (%04d_%s%s)", m.version, m.name, m.version, m.name, pgSuffix)
		}
		if m.version < pgBaseline && m.pg != "" {
			return fmt.Errorf("migration %04d_%s: PostgreSQL begins at version %d", m.version, m.name, pgBaseline)
		}
	}
	return nil
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
	pg := map[string]string{} // NNNN_name.sql → its PostgreSQL text
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), pgSuffix) {
			b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
			}
			pg[strings.TrimSuffix(e.Name(), pgSuffix)+".sql"] = string(b)
		}
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") || strings.HasSuffix(e.Name(), pgSuffix) {
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
		m.pg = pg[e.Name()]
		delete(pg, e.Name())
		migs = append(migs, m)
	}
	for name := range pg {
		return nil, fmt.Errorf("migration %s%s: no SQLite file %s", strings.TrimSuffix(name, ".sql"), pgSuffix, name)
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
func schemaVersion(ctx context.Context, q querier, pg bool) (int, error) {
	var n int
	exists := `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`
	if pg {
		exists = `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'`
	}
	err := q.QueryRowContext(ctx, exists).Scan(&n)
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
	v, err := schemaVersion(ctx, s.read, s.pg)
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
	v, err := schemaVersion(ctx, s.read, s.pg)
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
	// A version recorded stays recorded: those are skipped without a
	// transaction each (a current schema, the usual start, costs one
	// query); the others are re-checked under the write lock.
	recorded, err := s.recordedVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage: migrate: %w", err)
	}
	for _, m := range s.migrations {
		if s.pg && m.version < pgBaseline {
			continue // folded into the baseline, recorded with it
		}
		if recorded[m.version] {
			continue
		}
		done, err := s.applyMigration(ctx, m)
		if err != nil {
			return applied, fmt.Errorf("storage: migrate: %w", err)
		}
		applied = append(applied, done...)
	}
	return applied, nil
}

// recordedVersions reads the versions schema_migrations records, and
// refuses a database newer than this build.
func (s *Store) recordedVersions(ctx context.Context) (map[int]bool, error) {
	rows, err := s.write.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	recorded, top := map[int]bool{}, 0
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		recorded[v], top = true, max(top, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	if err := s.tooNew(top); err != nil {
		return nil, err
	}
	return recorded, nil
}

// ensureMigrationsTable creates schema_migrations on a fresh database.
func (s *Store) ensureMigrationsTable(ctx context.Context) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, s.sq(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	) STRICT`, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    bigint PRIMARY KEY,
		name       text COLLATE "C" NOT NULL,
		applied_at text COLLATE "C" NOT NULL
	)`))
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return tx.Commit()
}

// applyMigration runs m unless the database already has it. It returns
// the versions it recorded: m's, and on PostgreSQL with the baseline the
// versions folded into it.
func (s *Store) applyMigration(ctx context.Context, m migration) ([]int, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	current, err := schemaVersion(ctx, tx, s.pg)
	if err != nil {
		return nil, fmt.Errorf("schema version: %w", err)
	}
	if err := s.tooNew(current); err != nil {
		return nil, err
	}
	var n int
	err = tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n)
	if err != nil {
		return nil, fmt.Errorf("check version %d: %w", m.version, err)
	}
	if n > 0 {
		return nil, nil
	}
	text, record := m.sql, []migration{m}
	if s.pg {
		text = m.pg
		if m.version == pgBaseline {
			record = nil
			for _, f := range s.migrations {
				if f.version <= pgBaseline {
					record = append(record, f)
				}
			}
		}
	}
	if _, err := tx.ExecContext(ctx, text); err != nil {
		return nil, fmt.Errorf("apply %04d_%s: %w", m.version, m.name, err)
	}
	var versions []int
	for _, r := range record {
		_, err = tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			r.version, r.name, formatTime(s.now()))
		if err != nil {
			return nil, fmt.Errorf("record %04d_%s: %w", r.version, r.name, err)
		}
		versions = append(versions, r.version)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit %04d_%s: %w", m.version, m.name, err)
	}
	return versions, nil
}
