package storage

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clorebot/clorebot/storage/storagetest"
	"github.com/jackc/pgx/v5"
)

// leaderURL is a fresh, migrated PostgreSQL database for a leader test
// (the lease's counter is a table of the schema); the tests skip without
// CLOREBOT_TEST_POSTGRES_URL.
func leaderURL(t testing.TB) string {
	t.Helper()
	if os.Getenv("CLOREBOT_TEST_POSTGRES_URL") == "" {
		t.Skip("CLOREBOT_TEST_POSTGRES_URL is not set: the leader election needs a real PostgreSQL (CI sets it; see .ci/run)")
	}
	u := storagetest.URL(t)
	if err := migrateAt(u); err != nil {
		t.Fatal(err)
	}
	return u
}

// testKey is a lock key of this test alone, so that tests running at the
// same time on one server (other packages' too) do not elect each other.
var testKeySeq atomic.Int64

func testKey() int64 { return LeaderLockKey<<16 + int64(os.Getpid()%1000)<<8 + testKeySeq.Add(1) }

// fast are timings short enough for tests, in the production proportions.
func fast(url string, key int64, name string) LeaderOptions {
	return LeaderOptions{URL: url, Key: key, Name: name,
		Heartbeat: 200 * time.Millisecond, Margin: 300 * time.Millisecond,
		SessionTimeout: 2 * time.Second, Retry: 200 * time.Millisecond}
}

// startLeader runs l until the test ends (or stop is called).
func startLeader(t *testing.T, o LeaderOptions) (l *Leader, stop func()) {
	t.Helper()
	l, err := NewLeader(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return l, stop
}

// waitLeading waits until want leads, at most within.
func waitLeading(t *testing.T, l *Leader, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if _, err := l.NextTerm(ctx); err != nil {
		t.Fatalf("%s did not lead within %s", l.o.Name, within)
	}
	return time.Since(start)
}

// neverBoth samples a and b until stop and fails the test if both ever
// lead at once.
func neverBoth(t *testing.T, a, b *Leader) (stop func()) {
	t.Helper()
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if a.Leading() && b.Leading() {
				t.Error("both processes lead at once")
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

func TestLeaderOneOfTwoLeads(t *testing.T) {
	u, key := leaderURL(t), testKey()
	a, stopA := startLeader(t, fast(u, key, "a"))
	waitLeading(t, a, 5*time.Second)
	b, _ := startLeader(t, fast(u, key, "b"))
	both := neverBoth(t, a, b)
	time.Sleep(time.Second) // b tries about five times
	if b.Leading() || b.IsLeader(context.Background()) == nil {
		t.Fatal("b leads while a holds the lock")
	}
	if !a.Leading() || a.IsLeader(context.Background()) != nil {
		t.Fatal("a stopped leading")
	}
	term, ok := a.Term()
	if !ok || term.Err() != nil {
		t.Fatal("a's term ended while it leads")
	}
	stopA() // graceful: the lock is freed at once
	if !errors.Is(term.Err(), context.Canceled) {
		t.Fatalf("a's term after stop: %v, want canceled", term.Err())
	}
	if took := waitLeading(t, b, 3*time.Second); took > time.Second {
		t.Errorf("b took %s to lead after a stopped, want about one retry", took)
	}
	both()
}

// TestLeaderTakeoverWhenHolderConnectionDies is kill -9 seen from the
// database, or pg_terminate_backend, or a restart: the holder's session
// ends and the lock is free at once, while the holder believes in its term
// until heartbeat + margin after its last beat. The other takes the lock at
// its next try and begins its term only once that belief has run out:
// never both at once, and within §8's 15 s. "after a beat" is the worst
// moment: the holder has just renewed (5 s of belief left) and the
// follower, trying every 20 ms, takes the lock at once.
func TestLeaderTakeoverWhenHolderConnectionDies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retry     time.Duration
		afterBeat bool
	}{
		{"any moment", 0, false},
		{"after a beat", 20 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, key := leaderURL(t), testKey()
			o := LeaderOptions{URL: u, Key: key, Name: "a"}
			a, _ := startLeader(t, o)
			waitLeading(t, a, 10*time.Second)
			o.Name, o.Retry = "b", tc.retry
			b, _ := startLeader(t, o)
			time.Sleep(LeaderRetry + 100*time.Millisecond) // b follows and has seen a beat
			both := neverBoth(t, a, b)
			defer both()
			term, _ := a.Term()
			if tc.afterBeat {
				a.mu.Lock()
				was := a.validUntil
				a.mu.Unlock()
				for renewed := false; !renewed; time.Sleep(time.Millisecond) {
					a.mu.Lock()
					renewed = a.validUntil != was
					a.mu.Unlock()
				}
			}
			terminateHolder(t, u, key)
			took := waitLeading(t, b, 15*time.Second)
			t.Logf("b leads %s after the holder's session ended", took)
			// A retry, heartbeat + margin, and a second for the round trips
			// of the try, the counter's read and the first beat.
			if max := LeaderRetry + LeaderHeartbeat + LeaderMargin + time.Second; took > max {
				t.Errorf("takeover took %s, want within a retry, heartbeat + margin and round trips (%s)", took, max)
			}
			if term.Err() == nil {
				t.Error("a's term goes on after its session ended")
			}
			// a campaigns again, as a follower now.
			time.Sleep(3 * time.Second)
			if a.Leading() {
				t.Error("a leads again while b holds the lock")
			}
		})
	}
}

// A process stopped while it waits out the previous holder's term (it
// holds the lock, its term has not begun) does not mark the lease
// released: the next one must wait out that same term. One stopped after
// leading does, and the next one begins at once.
func TestLeaderReleasesOnlyAfterItsTermBegan(t *testing.T) {
	u, key := leaderURL(t), testKey()
	a, _ := startLeader(t, LeaderOptions{URL: u, Key: key, Name: "a"})
	waitLeading(t, a, 10*time.Second)
	b, stopB := startLeader(t, LeaderOptions{URL: u, Key: key, Name: "b", Retry: 20 * time.Millisecond})
	time.Sleep(100 * time.Millisecond)
	terminateHolder(t, u, key)
	// b takes the lock within its retry and waits out a's term.
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	released := func() bool {
		var r bool
		if err := conn.QueryRow(context.Background(), `SELECT released FROM leader_lease WHERE lock_key = $1`, key).Scan(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	var holder string
	for deadline := time.Now().Add(2 * time.Second); holder != "clorebot-leader b"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("b did not take the lock (held by %q)", holder)
		}
		holder = ""
		_ = conn.QueryRow(context.Background(), `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			WHERE l.locktype = 'advisory' AND l.granted AND l.objid = ($1::bigint & 4294967295)::oid AND l.classid = ($1::bigint >> 32)::oid`, key).Scan(&holder)
	}
	if b.Leading() {
		t.Fatal("b leads at once after taking the lock from a live holder's ended session")
	}
	stopB()
	if released() {
		t.Fatal("b, stopped before its term began, marked the lease released")
	}
	// c takes over and leads once a's term has surely ended; stopped
	// then, it marks the lease released.
	c, stopC := startLeader(t, LeaderOptions{URL: u, Key: key, Name: "c"})
	waitLeading(t, c, 15*time.Second)
	stopC()
	if !released() {
		t.Fatal("c, stopped after leading, did not mark the lease released")
	}
}

// TestLeaderPausedHolderLosesLeadership freezes the holder's connection
// (a paused process, or a partition between it and the database): the
// holder stops believing it leads after Heartbeat+Margin, its term's
// context ends, the server ends its session after SessionTimeout and the
// other leads; when the connection thaws, the old holder does not lead
// again. At no instant do both lead.
func TestLeaderPausedHolderLosesLeadership(t *testing.T) {
	u, key := leaderURL(t), testKey()
	p := newFreezer(t, u)
	a, _ := startLeader(t, fast(p.url, key, "a"))
	waitLeading(t, a, 5*time.Second)
	b, _ := startLeader(t, fast(u, key, "b"))
	both := neverBoth(t, a, b)
	defer both()
	term, _ := a.Term()
	p.freeze()
	frozen := time.Now()
	select {
	case <-term.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("a's term did not end after its heartbeats stopped")
	}
	if lost := time.Since(frozen); lost > 600*time.Millisecond {
		t.Errorf("a noticed %s after the freeze, want within heartbeat+margin (500 ms)", lost)
	}
	if a.IsLeader(context.Background()) == nil {
		t.Fatal("a still answers leader")
	}
	took := waitLeading(t, b, 6*time.Second)
	_ = took
	t.Logf("b leads %s after a's connection froze (session timeout 2 s)", time.Since(frozen))
	p.thaw()
	time.Sleep(time.Second)
	if a.Leading() {
		t.Fatal("a leads again after its connection thawed")
	}
}

// TestLeaderTermEndsOnLateHeartbeatBeforeTimer: a process that wakes
// after its validity passed sees the term ended on its first look, before
// the expiry timer runs.
func TestLeaderTermEndsOnLateHeartbeatBeforeTimer(t *testing.T) {
	l := &Leader{o: LeaderOptions{Logger: slog.New(slog.DiscardHandler)}, next: make(chan struct{})}
	l.o.Heartbeat, l.o.Margin = time.Hour, time.Hour
	l.renew(time.Now())
	term, ok := l.Term()
	if !ok || term.Err() != nil {
		t.Fatal("no term after a beat")
	}
	l.expiry.Stop() // the timer never runs: only the look ends the term
	l.mu.Lock()
	l.validUntil = time.Now().Add(-time.Millisecond) // the pause outlasted the validity
	l.mu.Unlock()
	if !errors.Is(term.Err(), context.Canceled) {
		t.Fatalf("term.Err() after the validity passed: %v", term.Err())
	}
	select {
	case <-term.Done():
	default:
		t.Fatal("term.Done() open after the validity passed")
	}
	if l.Leading() {
		t.Fatal("still leading")
	}
	// A beat sent before the pause and answered after it does not count.
	l.renew(time.Now().Add(-3 * time.Hour))
	if l.Leading() {
		t.Fatal("a stale beat began a term")
	}
}

// A term runs out by either clock: the monotonic one, or the wall clock,
// which goes on while the host is suspended (the monotonic one stops).
// Times without a monotonic reading stand for the wall clock here.
func TestLeaderLateByEitherClock(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name       string
		now, until time.Time
		want       bool
	}{
		{"both clocks before", now, now.Add(time.Second), false},
		{"monotonic past", now, now.Add(-time.Second), true},
		{"at the deadline", now, now, true},
		{"wall clock past (a suspended host)", now.Round(0).Add(time.Minute), now.Add(time.Second), true},
		{"wall clock before", now.Round(0), now.Add(time.Second), false},
	} {
		if got := late(tc.now, tc.until); got != tc.want {
			t.Errorf("%s: late = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNewLeaderRefusesBadSettings(t *testing.T) {
	if _, err := NewLeader(LeaderOptions{URL: "postgres://u:hunter2@127.0.0.1:1/x", Heartbeat: 5 * time.Second, Margin: 5 * time.Second}); err == nil {
		t.Fatal("a session timeout under heartbeat+margin was accepted")
	}
	_, err := NewLeader(LeaderOptions{URL: "postgres://u:hunter2@[::1/x"})
	if err == nil {
		t.Fatal("a bad URL was accepted")
	}
	if got := err.Error(); strings.Contains(got, "hunter2") {
		t.Fatalf("the error repeats the password: %s", got)
	}
}

// freezer is a TCP proxy to PostgreSQL whose traffic can be stopped (a
// paused process or a partition, seen from both ends) and resumed.
type freezer struct {
	url    string
	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
}

func newFreezer(t *testing.T, target string) *freezer { return newFreezerB(t, target) }

// newFreezerB is newFreezer for tests and benchmarks.
func newFreezerB(t testing.TB, target string) *freezer {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	f := &freezer{}
	f.cond = sync.NewCond(&f.mu)
	upstream := u.Host
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = c.Close()
				continue
			}
			go f.pipe(c, s)
			go f.pipe(s, c)
		}
	}()
	u.Host = ln.Addr().String()
	f.url = u.String()
	t.Cleanup(f.thaw)
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		for f.frozen {
			f.cond.Wait()
		}
		f.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			return
		}
	}
}

func (f *freezer) freeze() { f.mu.Lock(); f.frozen = true; f.mu.Unlock() }
func (f *freezer) thaw()   { f.mu.Lock(); f.frozen = false; f.cond.Broadcast(); f.mu.Unlock() }
