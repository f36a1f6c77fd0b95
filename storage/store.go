package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/clorebot/clorebot/commands"
)

// ErrNotFound is returned (wrapped) when a requested row does not exist. It is
// [commands.ErrNotFound], so errors.Is matches either name.
var ErrNotFound = commands.ErrNotFound

// ErrConflict is returned (wrapped) when a write would break a unique key,
// such as a second order with the same Clore order id. It is
// [commands.ErrConflict].
var ErrConflict = commands.ErrConflict

// ErrLeased is returned (wrapped) when another worker holds a job's lease. It
// is [commands.ErrLeased].
var ErrLeased = commands.ErrLeased

// Store implements the command layer's durable state, noun by noun (the
// intake, sink, spend and price-history stores are asserted next to their
// code).
var (
	_ commands.Store         = (*Store)(nil)
	_ commands.JobStore      = (*Store)(nil)
	_ commands.GuardStore    = (*Store)(nil)
	_ commands.OrderStore    = (*Store)(nil)
	_ commands.ClaimStore    = (*Store)(nil)
	_ commands.WatchStore    = (*Store)(nil)
	_ commands.AuditStore    = (*Store)(nil)
	_ commands.RequestStore  = (*Store)(nil)
	_ commands.EventStore    = (*Store)(nil)
	_ commands.SnapshotStore = (*Store)(nil)
)

// readerConns is the size of the read-only pool. Reads are short; a few
// connections let the HTTP listener, the scheduler and workers read at once.
const readerConns = 4

// Store is clorebot's database, a SQLite file or a PostgreSQL database. It
// is safe for concurrent use.
type Store struct {
	// Now is the clock for every time the store records itself (created,
	// updated and audit times). It defaults to time.Now on SQLite and to
	// the database server's clock on PostgreSQL (clock.go); set it right
	// after Open, before the Store is shared, to inject a fake clock.
	Now func() time.Time

	path       string
	pg         bool      // PostgreSQL (storage.url) rather than SQLite (storage.path)
	write      *sql.DB   // exactly one connection; every write transaction
	read       *sql.DB   // query-only connections for reads
	readStmts  stmtCache // statements prepared once on read (stmtcache.go)
	migrations []migration
	intake     *intakeWriter // group commit of Intake (intake.go)

	// ckptMu serializes this process's checkpoints: the wipe's TRUNCATE
	// and the background PASSIVE one (a checkpoint that finds another
	// running answers busy and does nothing).
	ckptMu sync.Mutex
	// wipePending is set while a wipe's TRUNCATE checkpoint has not
	// succeeded yet; the background checkpointer retries it.
	wipePending atomic.Bool
	// wipeRetry and wipeRetryAt pace the background retries of a pending
	// TRUNCATE (guarded by ckptMu): a long reader keeps it busy, and each
	// try holds SQLite's write lock for up to truncateBusyTimeout.
	wipeRetry   time.Duration
	wipeRetryAt time.Time

	// clock follows the database server's clock on PostgreSQL (clock.go).
	clock *serverClock

	stopCheckpoints chan struct{} // closed by Close
	checkpointsDone chan struct{} // closed when runCheckpoints returned
	stopOnce        sync.Once
}

// Options say where the database is: URL, a PostgreSQL connection URL
// ("postgres://…", storage.url), wins over Path, a SQLite file
// (storage.path).
type Options struct {
	Path string
	URL  string
}

// OpenConfig opens the database o names: PostgreSQL when o.URL is set
// (see [OpenPostgres]), else the SQLite file at o.Path (see [Open]).
func OpenConfig(ctx context.Context, o Options) (*Store, error) {
	if o.URL != "" {
		return OpenPostgres(ctx, o.URL)
	}
	return Open(ctx, o.Path)
}

// OpenConfigAndMigrate is [OpenConfig] followed by [Store.Migrate].
func OpenConfigAndMigrate(ctx context.Context, o Options) (*Store, error) {
	s, err := OpenConfig(ctx, o)
	if err != nil {
		return nil, err
	}
	if _, err := s.Migrate(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// Open opens (creating it and its parent directory if needed) the SQLite
// database at path. It does not apply migrations, see [Store.Migrate] and
// [OpenAndMigrate], but it fails with [ErrSchemaTooNew] when the database was
// migrated by a newer clorebot. A path that is a PostgreSQL URL
// ("postgres://…") opens that database instead ([OpenPostgres]), so that
// tools and tests can name either backend with one string.
func Open(ctx context.Context, path string) (*Store, error) {
	if isPostgresURL(path) {
		return OpenPostgres(ctx, path)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("storage: open: need a file path, got %q", path)
	}
	migs, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	if err := prepareFiles(path); err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	s := &Store{Now: time.Now, path: path, migrations: migs, intake: newIntakeWriter()}
	if err := s.openPools(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("storage: open %s: %w", path, err), s.Close())
	}
	if err := s.checkNotTooNew(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("storage: open %s: %w", path, err), s.Close())
	}
	s.stopCheckpoints, s.checkpointsDone = make(chan struct{}), make(chan struct{})
	go s.runCheckpoints(s.stopCheckpoints, s.checkpointsDone)
	return s, nil
}

// prepareFiles creates the database's directory (0700) and file (0600)
// when they are missing, so that neither the umask nor SQLite's default
// (0644) decides who can read them: the database holds SSH passwords until
// they are delivered. SQLite gives the -wal and -shm files the database
// file's mode. An existing database readable by others is narrowed to its
// owner; where that is not allowed (another owner), it is left as it is.
func prepareFiles(path string) error {
	path = filepath.Clean(path) // as SQLite will see it (escapePath)
	dir := filepath.Dir(path)
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	for _, d := range created {
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := errors.Join(f.Chmod(0o600), f.Close()); err != nil {
			return fmt.Errorf("create database file: %w", err)
		}
	case errors.Is(err, fs.ErrExist):
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
				_ = os.Chmod(p, fi.Mode().Perm()&^0o077) // best effort: it may belong to someone else
			}
		}
	default:
		return fmt.Errorf("create database file: %w", err)
	}
	return nil
}

// OpenAndMigrate opens the database at path and applies every pending
// migration.
func OpenAndMigrate(ctx context.Context, path string) (*Store, error) {
	s, err := Open(ctx, path)
	if err != nil {
		return nil, err
	}
	if _, err := s.Migrate(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// openPools opens the writer first: its first connection switches a new file
// to WAL, which a query-only reader connection could not do.
func (s *Store) openPools(ctx context.Context) error {
	var err error
	s.write, err = sql.Open("sqlite", dsn(s.path, false))
	if err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	s.read, err = sql.Open("sqlite", dsn(s.path, true))
	if err != nil {
		return fmt.Errorf("reader: %w", err)
	}
	s.read.SetMaxOpenConns(readerConns)
	s.read.SetMaxIdleConns(readerConns)
	s.read.SetConnMaxLifetime(0)
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("reader: %w", err)
	}
	return nil
}

// walAutoCheckpoint is the WAL size, in pages, past which the writer
// checkpoints inside a COMMIT (SQLite's default is 1,000).
const walAutoCheckpoint = 10_000

// dsn builds the modernc.org/sqlite DSN for path. The driver applies
// busy_timeout before every other pragma, so no pragma fails on a lock held by
// another process. Readers are query-only and keep the default deferred BEGIN:
// an immediate BEGIN would take the write lock.
func dsn(path string, readOnly bool) string {
	q := []string{
		"_pragma=busy_timeout(5000)",
		"_pragma=journal_mode(WAL)",
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(NORMAL)",
		// Wiped SSH passwords are overwritten in the file, not only unlinked.
		"_pragma=secure_delete(1)",
		// Pages are read through a memory map: no read syscall each.
		"_pragma=mmap_size(268435456)",
	}
	if readOnly {
		q = append(q, "_query_only=1")
	} else {
		q = append(q, "_txlock=immediate", "_pragma=wal_autocheckpoint(10000)")
	}
	return "file:" + escapePath(path) + "?" + strings.Join(q, "&")
}

// escapePath percent-encodes path for a SQLite file: URI, where '?' starts
// the query, '#' a fragment and '%' an escape. Cleaning first keeps a leading
// "//" from being read as a URI authority.
func escapePath(path string) string {
	u := url.URL{Path: filepath.ToSlash(filepath.Clean(path))}
	return u.EscapedPath()
}

// Ping reports whether both pools can reach the database; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error {
	if s.write == nil || s.read == nil {
		return errors.New("storage: ping: the store is not open")
	}
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("storage: ping writer: %w", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("storage: ping reader: %w", err)
	}
	return nil
}

// Close closes both pools. Call it once, after every user of the Store has
// stopped.
func (s *Store) Close() error {
	var errs []error
	if s.clock != nil {
		s.clock.stop()
	}
	if s.stopCheckpoints != nil {
		s.stopOnce.Do(func() {
			close(s.stopCheckpoints)
			<-s.checkpointsDone
		})
	}
	if s.intake != nil {
		if err := s.intake.stop(); err != nil {
			errs = append(errs, fmt.Errorf("storage: close intake: %w", err))
		}
	}
	s.readStmts.close()
	if s.read != nil {
		if err := s.read.Close(); err != nil {
			errs = append(errs, fmt.Errorf("storage: close reader: %w", err))
		}
	}
	if s.write != nil {
		if err := s.write.Close(); err != nil {
			errs = append(errs, fmt.Errorf("storage: close writer: %w", err))
		}
	}
	return errors.Join(errs...)
}

// now returns the store's clock in UTC.
func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// mapConstraint turns a unique or primary-key violation into ErrConflict so
// that callers never match driver error strings.
func mapConstraint(err error) error {
	if isPGUniqueViolation(err) {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	return err
}
