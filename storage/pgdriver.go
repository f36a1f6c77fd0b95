package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// writeLockKey is the PostgreSQL advisory lock every write transaction of
// every clorebot process on the database takes right after BEGIN
// (pg_advisory_xact_lock), so that write transactions run one after the
// other across processes as they do on SQLite's single writer: every
// guardrail argument made for SQLite (a count and the insert it admits in
// one transaction, nobody writing in between) holds on PostgreSQL too. It
// is "clorebot" in ASCII; the leader election uses a lock of its own.
const writeLockKey int64 = 0x636c6f7265626f74

// pgConnector opens pgx connections through its database/sql driver
// (pgx/v5/stdlib) and wraps them: queries are written once, with SQLite's
// '?' and '?N' placeholders, and rewritten to PostgreSQL's '$N' here (each
// text once, cached); on the writer pool every transaction takes the write
// lock, and a statement run outside a transaction runs in one of its own
// that takes it.
type pgConnector struct {
	base   driver.Connector
	writer bool
}

func newPGConnector(cfg *pgx.ConnConfig, writer bool) *pgConnector {
	return &pgConnector{base: stdlib.GetConnector(*cfg), writer: writer}
}

// Connect implements driver.Connector.
func (c *pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		_ = conn.Close()
		return nil, fmt.Errorf("pgx stdlib returned a %T", conn)
	}
	return &pgConn{Conn: sc, writer: c.writer}, nil
}

// Driver implements driver.Connector.
func (c *pgConnector) Driver() driver.Driver { return c.base.Driver() }

// pgConn is one wrapped pgx connection. database/sql uses a connection from
// one goroutine at a time, so inTx needs no lock.
type pgConn struct {
	*stdlib.Conn
	writer bool
	inTx   bool
}

// Prepare implements driver.Conn.
func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext implements driver.ConnPrepareContext.
func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, pgQuery(query))
}

// Begin implements driver.Conn.
func (c *pgConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx implements driver.ConnBeginTx: on the writer pool it waits for
// the write lock before the transaction does anything. READ COMMITTED (the
// default) matters: each statement after the lock sees every write
// committed before it was granted.
func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	if c.writer {
		if _, err := c.Conn.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+strconv.FormatInt(writeLockKey, 10)+`)`, nil); err != nil {
			return nil, errors.Join(fmt.Errorf("take the write lock: %w", err), tx.Rollback())
		}
	}
	c.inTx = true
	return &pgTx{tx: tx, conn: c}, nil
}

// ExecContext implements driver.ExecerContext. A write outside a
// transaction gets one of its own, with the write lock.
func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if !c.writer || c.inTx {
		return c.Conn.ExecContext(ctx, pgQuery(query), args)
	}
	tx, err := c.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return nil, err
	}
	res, err := c.Conn.ExecContext(ctx, pgQuery(query), args)
	if err != nil {
		return nil, errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// QueryContext implements driver.QueryerContext.
func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, pgQuery(query), args)
}

// CheckNamedValue implements driver.NamedValueChecker: the schema keeps
// SQLite's 0/1 integers for flags, so a bool argument is sent as one.
func (c *pgConn) CheckNamedValue(v *driver.NamedValue) error {
	if b, ok := v.Value.(bool); ok {
		v.Value = int64(0)
		if b {
			v.Value = int64(1)
		}
	}
	return nil
}

// pgTx clears its connection's inTx when it ends.
type pgTx struct {
	tx   driver.Tx
	conn *pgConn
}

func (t *pgTx) Commit() error {
	t.conn.inTx = false
	return t.tx.Commit()
}

func (t *pgTx) Rollback() error {
	t.conn.inTx = false
	return t.tx.Rollback()
}

// pgQueries caches pgQuery's rewrites by query text.
var pgQueries sync.Map

// pgQuery is q for PostgreSQL: SQLite's placeholders ('?' numbered as
// SQLite numbers them, '?N') become '$N', and SQLite's index hints
// ("INDEXED BY name") are dropped. Quoted strings, quoted identifiers and
// comments are left alone.
func pgQuery(q string) string {
	if v, ok := pgQueries.Load(q); ok {
		return v.(string)
	}
	out := rewritePlaceholders(q)
	pgQueries.Store(q, out)
	return out
}

// rewritePlaceholders does pgQuery's work.
func rewritePlaceholders(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	highest := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			j = min(j+1, len(q))
			b.WriteString(q[i:j])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			end := len(q)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(q[i:end])
			i = end
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			n := highest + 1
			if j > i+1 {
				n, _ = strconv.Atoi(q[i+1 : j])
			}
			highest = max(highest, n)
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i = j
		case (c == 'I' || c == 'i') && hasWordAt(q, i, "INDEXED"):
			// "INDEXED BY name": SQLite's hint; PostgreSQL plans alone.
			j := skipSpace(q, i+len("INDEXED"))
			if !hasWordAt(q, j, "BY") {
				b.WriteByte(c)
				i++
				continue
			}
			j = skipSpace(q, j+2)
			for j < len(q) && (isWordByte(q[j])) {
				j++
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// hasWordAt reports whether q holds the keyword w (any case) as a whole
// word at i.
func hasWordAt(q string, i int, w string) bool {
	if i+len(w) > len(q) || !strings.EqualFold(q[i:i+len(w)], w) {
		return false
	}
	if i > 0 && isWordByte(q[i-1]) {
		return false
	}
	return i+len(w) == len(q) || !isWordByte(q[i+len(w)])
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func skipSpace(q string, i int) int {
	for i < len(q) && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r') {
		i++
	}
	return i
}

// pgUniqueViolation is PostgreSQL's SQLSTATE for a unique or primary-key
// violation.
const pgUniqueViolation = "23505"

// isPGUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isPGUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgUniqueViolation
}
