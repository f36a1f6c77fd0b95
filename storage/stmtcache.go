package storage

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache holds statements prepared once on the readers, by query text,
// for the few fixed queries read often enough that SQLite parsing and
// planning them again each time shows (the guards' usage counts: the watch
// list's auto-rent reads them every tick). database/sql prepares a
// statement again on each reader connection that runs it, and SQLite
// re-prepares it by itself when the schema changes.
type stmtCache struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	closed bool
}

// get returns query prepared on db, or nil when it cannot be (the store
// is closed, or preparing failed: the caller then runs the query as is and
// meets the same error).
func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	if st, ok := c.m[query]; ok {
		return st
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st
}

// close closes every statement; get prepares nothing afterwards.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, st := range c.m {
		_ = st.Close()
	}
	c.m = nil
}

// preparedReads is a rowQuerier on the store's readers whose statements
// are prepared once.
type preparedReads struct{ s *Store }

func (p preparedReads) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.s.readStmts.get(ctx, p.s.read, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.s.read.QueryRowContext(ctx, query, args...)
}
