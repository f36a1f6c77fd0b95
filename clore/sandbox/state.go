package sandbox

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

const msPerDay = 86_400_000

// firstOrderID is just below the first order id handed out; real ids were
// around 1,940,000 in July 2026.
const firstOrderID = 1_940_000

// Outcomes of state changes that map to API errors.
var (
	errServerRented     = errors.New("server already rented")
	errNotEnoughBalance = errors.New("not enough balance")
	errOrderNotFound    = errors.New("order not found")
	errOrderNotActive   = errors.New("order not active")
	errNotYourOrder     = errors.New("order of another key")
)

// store is the SQLite state shared by every Server on the same file.
type store struct {
	db      *sql.DB
	initial map[string]float64 // balances of a key's wallets on first use
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// openStore opens (creating if needed) the state file and migrates it.
func openStore(ctx context.Context, path string, initial map[string]float64) (*store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: state directory: %w", err)
	}
	// Created 0600 here, whatever the umask: SQLite would make it 0644, and
	// gives the WAL and SHM files the state file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sandbox: create state: %w", err)
	}
	f.Close()
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("sandbox: open state: %w", err)
	}
	// One connection per process: every transaction is immediate, so more
	// would only wait for the write lock; other processes wait via busy_timeout.
	db.SetMaxOpenConns(1)
	st := &store{db: db, initial: initial}
	if err := st.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return st, nil
}

// dsn builds the modernc.org/sqlite DSN with the house pragmas.
func dsn(path string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// migrate applies the embedded NNNN_name.sql files newer than user_version.
func (st *store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sandbox: migrate: %w", err)
	}
	slices.Sort(names)
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sandbox: migrate: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("sandbox: migrate: %w", err)
	}
	for _, name := range names {
		n, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("sandbox: migrate %s: %w", name, err)
		}
		if n <= version {
			continue
		}
		text, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sandbox: migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, string(text)); err != nil {
			return fmt.Errorf("sandbox: migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", n)); err != nil {
			return fmt.Errorf("sandbox: migrate %s: %w", name, err)
		}
	}
	return tx.Commit()
}

// close closes the database.
func (st *store) close() error {
	if err := st.db.Close(); err != nil {
		return fmt.Errorf("sandbox: close state: %w", err)
	}
	return nil
}

// markRented records a server as rented by someone else until untilMS
// (0: for good).
func (st *store) markRented(ctx context.Context, serverID, untilMS int64) error {
	until := sql.NullInt64{Int64: untilMS, Valid: untilMS > 0}
	_, err := st.db.ExecContext(ctx,
		`INSERT INTO rented_by_other (server_id, until_ms) VALUES (?, ?)
		 ON CONFLICT (server_id) DO UPDATE SET until_ms = excluded.until_ms`, serverID, until)
	if err != nil {
		return fmt.Errorf("sandbox: mark rented: %w", err)
	}
	return nil
}

// busyServers returns the servers occupied by active orders or overrides.
func (st *store) busyServers(ctx context.Context, nowMS int64) (map[int64]bool, error) {
	rows, err := st.db.QueryContext(ctx,
		`SELECT server_id FROM orders WHERE cancelled_ms IS NULL AND ends_ms > ?1
		 UNION SELECT server_id FROM rented_by_other WHERE until_ms IS NULL OR until_ms > ?1`, nowMS)
	if err != nil {
		return nil, fmt.Errorf("sandbox: busy servers: %w", err)
	}
	defer rows.Close()
	busy := make(map[int64]bool)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sandbox: busy servers: %w", err)
		}
		busy[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sandbox: busy servers: %w", err)
	}
	return busy, nil
}

// serverBusy reports whether one server is occupied.
func serverBusy(ctx context.Context, q querier, serverID, nowMS int64) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx,
		`SELECT (SELECT COUNT(*) FROM orders WHERE server_id = ?1 AND cancelled_ms IS NULL AND ends_ms > ?2)
		      + (SELECT COUNT(*) FROM rented_by_other WHERE server_id = ?1 AND (until_ms IS NULL OR until_ms > ?2))`,
		serverID, nowMS).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sandbox: server busy: %w", err)
	}
	return n > 0, nil
}

// serverBusy reports whether one server is occupied, outside a transaction.
func (st *store) serverBusy(ctx context.Context, serverID, nowMS int64) (bool, error) {
	return serverBusy(ctx, st.db, serverID, nowMS)
}
