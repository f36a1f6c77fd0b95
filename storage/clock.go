package storage

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// clockRefresh is how often a store on PostgreSQL measures again how far
// the database server's clock is from its host's.
const clockRefresh = 30 * time.Second

// serverClock is the database server's clock as this host can tell it: the
// host's clock plus the offset last measured against clock_timestamp().
// Two clorebot processes on hosts whose clocks disagree then agree on the
// time of leases, rate slots and every time they store, to within the
// measuring error (half a round trip). The refresh runs a query on the read
// pool, outside any transaction, and never holds a lock.
type serverClock struct {
	db      *sql.DB
	hostNow func() time.Time // time.Now; tests skew it
	offset  atomic.Int64     // server minus host, nanoseconds
	errMax  atomic.Int64     // how far offset may be off: half the round trip, nanoseconds

	quit chan struct{}
	done chan struct{}
	once sync.Once
}

// startServerClock measures the offset once (an error fails the open) and
// refreshes it every clockRefresh until stop.
func startServerClock(ctx context.Context, db *sql.DB) (*serverClock, error) {
	c := &serverClock{db: db, hostNow: time.Now, quit: make(chan struct{}), done: make(chan struct{})}
	if err := c.measure(ctx); err != nil {
		return nil, err
	}
	go c.run()
	return c, nil
}

// now is the server's time in UTC.
func (c *serverClock) now() time.Time {
	return c.hostNow().Add(time.Duration(c.offset.Load())).UTC()
}

// measure reads the server's clock and sets the offset, taking the host's
// time halfway through the round trip as the moment the server read its.
func (c *serverClock) measure(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	before := c.hostNow()
	var us int64
	if err := c.db.QueryRowContext(ctx,
		`SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint`).Scan(&us); err != nil {
		return fmt.Errorf("read the server's clock: %w", err)
	}
	after := c.hostNow()
	half := after.Sub(before) / 2
	c.offset.Store(int64(time.UnixMicro(us).Sub(before.Add(half))))
	c.errMax.Store(int64(half + time.Microsecond)) // and the server's microseconds
	return nil
}

// hostToServer is how far the store's clock is ahead of its host's: the
// server's offset on PostgreSQL, 0 on SQLite. The methods that take a time
// from their caller's host clock and compare it with times written by other
// processes (leases, rate slots) add it to the times they are given, and
// take it off the times they hand back to be waited for, so that two hosts
// whose clocks disagree still agree on a lease's end and a slot's moment.
//
// err bounds how far the offset may be wrong. An injected Store.Now (tests)
// turns both off: the store's clock is then whatever the test says.
func (s *Store) hostToServer() (offset, err time.Duration) {
	if s.clock == nil || s.Now == nil || reflect.ValueOf(s.Now).Pointer() != reflect.ValueOf(s.clock.now).Pointer() {
		return 0, 0
	}
	return time.Duration(s.clock.offset.Load()), time.Duration(s.clock.errMax.Load())
}

func (c *serverClock) run() {
	defer close(c.done)
	t := time.NewTicker(clockRefresh)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
			_ = c.measure(context.Background()) // best effort: the last offset stays
		}
	}
}

func (c *serverClock) stop() {
	c.once.Do(func() {
		close(c.quit)
		<-c.done
	})
}
