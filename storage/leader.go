package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// LeaderLockKey is the PostgreSQL advisory lock key of clorebot's leader:
// "clore" in ASCII. Every serve on one database campaigns for it.
const LeaderLockKey int64 = 0x636c6f7265

// The timing of the leader lock (DESIGN.md §8). The holder proves it still
// holds the lock by a heartbeat on the lock's connection every
// LeaderHeartbeat; it believes it leads until LeaderHeartbeat+LeaderMargin
// after the start of its last successful heartbeat. The server ends the
// session, and so the lock, once it has heard nothing from the holder for
// LeaderSessionTimeout, which is longer: a holder that stopped talking
// (paused, partitioned) stops believing it leads before the server frees
// the lock for the other instance. A follower tries for the lock every
// LeaderRetry.
//
// The lock alone cannot tell a new holder when the old one stopped
// believing it leads: when the server ends a live holder's session (kill -9,
// pg_terminate_backend, a restart) the lock is free at once, while the old
// holder learns of it only at its next heartbeat. So every heartbeat also
// adds one to a counter in the database (leader_lease), committed on the
// lock's session before the heartbeat counts; a follower notes when it
// first sees each value; the new holder begins its term only
// LeaderHeartbeat+LeaderMargin after it first saw the last value, unless the
// old holder released the lock after ending its term. Failover: a graceful
// stop, one retry (2 s); a kill, one retry plus at most heartbeat + margin
// (7 s); a pause or partition, the session timeout plus one retry (12 s,
// with no wait: the last beat is older than heartbeat + margin by then).
// All within §8's 15 s.
const (
	LeaderHeartbeat      = 2 * time.Second
	LeaderMargin         = 3 * time.Second
	LeaderSessionTimeout = 10 * time.Second
	LeaderRetry          = 2 * time.Second
)

// ErrNotLeader is what Leader.IsLeader answers while this process does not
// lead.
var ErrNotLeader = errors.New("storage: not the leader")

// errTermEnded is a term context's error once the term has ended; it is a
// context.Canceled, so work that stops on it is not logged as a failure.
var errTermEnded = fmt.Errorf("storage: leadership ended: %w", context.Canceled)

// LeaderOptions configures a Leader. Only URL is required.
type LeaderOptions struct {
	// URL is the PostgreSQL connection string (storage.url).
	URL string
	// Key is the advisory lock key (default LeaderLockKey).
	Key int64
	// Heartbeat, Margin, SessionTimeout and Retry default to the Leader*
	// constants; tests shorten them. SessionTimeout must exceed
	// Heartbeat+Margin.
	Heartbeat, Margin, SessionTimeout, Retry time.Duration
	// Logger receives a line when leadership is won or lost.
	Logger *slog.Logger
	// Name identifies this process in the logs and in the lock session's
	// application_name (pg_stat_activity).
	Name string
}

// Leader elects one leader among the clorebot processes on one PostgreSQL
// database: the process that holds a session-level advisory lock on one
// dedicated connection leads. It implements gocron's Elector (IsLeader),
// which answers from the last successful heartbeat, without a network call.
//
// The lock's session runs inside an open transaction with
// idle_in_transaction_session_timeout = SessionTimeout: a holder that stops
// talking (SIGSTOP, a partition to the database) has its session ended by
// the server, which frees the lock, while the holder itself stops believing
// it leads LeaderMargin after the heartbeat that should have come (measured
// on its own monotonic and wall clocks, whichever runs out first: no clock
// is compared between hosts, so skew between them plays no part).
// Each heartbeat commits one row's counter (leader_lease) and opens the
// next transaction, which takes no snapshot until the next heartbeat: the
// session holds back neither vacuum nor anyone's locks but the advisory
// one. A new holder begins its term only once the previous holder's has
// surely ended, judged from that counter (inherit).
//
// A term is one unbroken stretch of leadership: Term and NextTerm hand out
// its context, which ends when the term does (a late or failed heartbeat,
// the end of Run). Leader-only work runs under that context.
type Leader struct {
	o        LeaderOptions
	cfg      *pgx.ConnConfig
	settings string // the lock session's timeouts, set once connected

	mu         sync.Mutex
	validUntil time.Time // monotonic: the current term is believed until then
	term       *term     // the current term; nil while not leading
	next       chan struct{}
	expiry     *time.Timer
	// lastErr is the last campaign error logged, so that a database that
	// stays down is logged once, not every LeaderRetry.
	lastErr string

	// The fields below are the Run goroutine's alone.
	//
	// seenBeat is the last value of the holder's beat counter this process
	// saw while following, seenAt when the answer that first showed it
	// arrived (the beat was committed before then, so the holder's belief
	// in its term ran out by seenAt + heartbeat + margin); seen is false
	// when no holder has beaten yet.
	seen     bool
	seenBeat int64
	seenAt   time.Time
	// notBefore is, while this process holds the lock, the earliest time
	// its term may begin: when the previous holder's term has surely ended.
	notBefore time.Time
}

// NewLeader returns a Leader that campaigns once Run is called.
func NewLeader(o LeaderOptions) (*Leader, error) {
	o.Heartbeat = orDefault(o.Heartbeat, LeaderHeartbeat)
	o.Margin = orDefault(o.Margin, LeaderMargin)
	o.SessionTimeout = orDefault(o.SessionTimeout, LeaderSessionTimeout)
	o.Retry = orDefault(o.Retry, LeaderRetry)
	if o.Key == 0 {
		o.Key = LeaderLockKey
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SessionTimeout <= o.Heartbeat+o.Margin {
		return nil, fmt.Errorf("storage: leader: the session timeout (%s) must exceed heartbeat + margin (%s)", o.SessionTimeout, o.Heartbeat+o.Margin)
	}
	cfg, err := pgx.ParseConfig(o.URL)
	if err != nil {
		return nil, fmt.Errorf("storage: leader: storage.url: %w", redactURLError(err))
	}
	cfg.RuntimeParams["application_name"] = "clorebot-leader" + nameSuffix(o.Name)
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > o.Heartbeat+o.Margin {
		cfg.ConnectTimeout = o.Heartbeat + o.Margin
	}
	// The session's timeouts are set once connected (campaign), not as
	// startup parameters, which a pooler in session mode may drop: the
	// server must end a silent holder's session. A statement on the lock's
	// session never waits long: a beat is one row's update, the lock is
	// tried, never waited for.
	settings := fmt.Sprintf("SET idle_in_transaction_session_timeout = %d; SET statement_timeout = %d",
		o.SessionTimeout.Milliseconds(), (o.Heartbeat + o.Margin).Milliseconds())
	return &Leader{o: o, cfg: cfg, settings: settings, next: make(chan struct{})}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func nameSuffix(name string) string {
	if name == "" {
		return ""
	}
	return " " + name
}

// redactURLError keeps a connection string's password out of an error:
// pgx's parse errors may quote the string.
func redactURLError(error) error {
	return errors.New("invalid connection string (not repeated here: it may hold a password)")
}

// IsLeader implements gocron's Elector: nil while this process leads,
// ErrNotLeader otherwise. It reads memory and the monotonic clock only.
func (l *Leader) IsLeader(context.Context) error {
	if l.Leading() {
		return nil
	}
	return ErrNotLeader
}

// Leading reports whether this process leads now: it holds the lock and
// its last heartbeat is recent enough.
func (l *Leader) Leading() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.currentLocked() != nil
}

// currentLocked is the current term, ended first when its heartbeat is
// late: a process that wakes from a pause sees that here before anything
// else, whether or not the expiry timer has fired yet.
func (l *Leader) currentLocked() *term {
	if l.term != nil && late(time.Now(), l.validUntil) {
		l.endLocked("heartbeat late")
	}
	return l.term
}

// late reports whether a term believed until until has run out at now, by
// either clock: the monotonic one, which no wall-clock step moves, or the
// wall clock, which keeps running while the host is suspended (Linux's
// monotonic clock stops then). A wall clock stepped forward ends a term
// early, which is safe: the next heartbeat begins another.
func late(now, until time.Time) bool {
	return !now.Before(until) || !now.Round(0).Before(until.Round(0))
}

// Term returns the current term's context and true while this process
// leads; a context that has ended and false otherwise.
func (l *Leader) Term() (context.Context, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.currentLocked(); t != nil {
		return t, true
	}
	return endedTerm, false
}

// NextTerm waits until this process leads and returns that term's
// context; ctx's error when ctx ends first.
func (l *Leader) NextTerm(ctx context.Context) (context.Context, error) {
	for {
		l.mu.Lock()
		t, next := l.currentLocked(), l.next
		l.mu.Unlock()
		if t != nil {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-next:
		}
	}
}

// Run campaigns for the lock and holds it while the heartbeats go through,
// until ctx ends; then it ends the term and frees the lock (closing the
// connection) so that the other process takes over at once. It returns nil
// when ctx ends: a database that cannot be reached is logged and retried.
func (l *Leader) Run(ctx context.Context) error {
	defer l.end("stopping")
	for {
		err := l.campaign(ctx)
		if ctx.Err() != nil {
			return nil // the deferred end says "stopping"
		}
		l.end("lock connection lost")
		if msg := err.Error(); msg != l.lastErr {
			l.lastErr = msg
			l.o.Logger.LogAttrs(ctx, slog.LevelWarn, "leader election: database unreachable; retrying",
				slog.Duration("every", l.o.Retry), slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(l.o.Retry):
		}
	}
}

// campaign connects, tries for the lock every Retry until it holds it,
// then beats every Heartbeat until a beat fails or ctx ends.
func (l *Leader) campaign(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return fmt.Errorf("storage: leader: connect: %w", err)
	}
	defer func() {
		// Closing the connection ends the session: the server frees the
		// lock at once.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, l.settings); err != nil {
		return fmt.Errorf("storage: leader: session settings: %w", err)
	}
	l.lastErr = ""
	// Only the beats seen on this session count: when it ended with the
	// database (a crash, a fail-over to a replica), beats acknowledged to
	// the holder may be gone and the counter may show an older value again.
	l.seen = false
	for {
		got, err := l.try(ctx, conn)
		if err != nil {
			return err
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(l.o.Retry):
		}
	}
	if err := l.inherit(ctx, conn); err != nil {
		return err
	}
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			l.release(conn)
			return ctx.Err()
		case <-wait.C:
		}
		start := time.Now()
		// A stop does not cut a beat short (pgx would close the connection
		// and the release below could not be written): a beat is bounded
		// by heartbeat + margin.
		if err := l.beat(context.WithoutCancel(ctx), conn); err != nil {
			return err
		}
		if ctx.Err() != nil {
			l.release(conn)
			return ctx.Err()
		}
		l.renew(start)
		next := l.o.Heartbeat
		if w := time.Until(l.notBefore); w > 0 && w < next {
			next = w // the term may begin then: beat at once
		}
		wait.Reset(next)
	}
}

// try opens the transaction whose idleness the server times out and tries
// for the lock in it; without the lock it notes the holder's beat counter
// and rolls back (a follower's session waits outside any transaction).
func (l *Leader) try(ctx context.Context, conn *pgx.Conn) (bool, error) {
	qctx, cancel := context.WithTimeout(ctx, l.o.Heartbeat+l.o.Margin)
	defer cancel()
	if _, err := conn.Exec(qctx, "BEGIN"); err != nil {
		return false, fmt.Errorf("storage: leader: begin: %w", err)
	}
	var got bool
	var beat *int64
	err := conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1), (SELECT beat FROM leader_lease WHERE lock_key = $1)`, l.o.Key).Scan(&got, &beat)
	if err != nil {
		return false, fmt.Errorf("storage: leader: try lock: %w", err)
	}
	if got {
		// The counter was read in a snapshot taken before the lock was
		// freed: inherit reads it again.
		return true, nil
	}
	l.observe(beat, time.Now())
	if _, err := conn.Exec(qctx, "ROLLBACK"); err != nil {
		return false, fmt.Errorf("storage: leader: rollback: %w", err)
	}
	return false, nil
}

// observe notes the holder's beat counter as a follower saw it at arrived.
func (l *Leader) observe(beat *int64, arrived time.Time) {
	switch {
	case beat == nil:
		l.seen = false
	case !l.seen || *beat != l.seenBeat:
		l.seen, l.seenBeat, l.seenAt = true, *beat, arrived
	}
}

// inherit reads, now that the lock is this process's, the last beat of the
// previous holder and sets when this process's term may begin: at once when
// there was none or it released the lock after ending its term; otherwise
// heartbeat + margin after this process first saw that beat (or after now,
// when it never saw it), since the previous holder believes in its term
// until heartbeat + margin after a beat it sent before it was committed.
func (l *Leader) inherit(ctx context.Context, conn *pgx.Conn) error {
	qctx, cancel := context.WithTimeout(ctx, l.o.Heartbeat+l.o.Margin)
	defer cancel()
	var beat int64
	var released bool
	err := conn.QueryRow(qctx, `SELECT beat, released FROM leader_lease WHERE lock_key = $1`, l.o.Key).Scan(&beat, &released)
	arrived := time.Now()
	switch {
	case errors.Is(err, pgx.ErrNoRows) || err == nil && released:
		l.notBefore = time.Time{}
	case err != nil:
		return fmt.Errorf("storage: leader: read the previous holder's beat: %w", err)
	case l.seen && beat == l.seenBeat:
		l.notBefore = l.seenAt.Add(l.o.Heartbeat + l.o.Margin)
	default:
		l.notBefore = arrived.Add(l.o.Heartbeat + l.o.Margin)
	}
	if wait := time.Until(l.notBefore); wait > 0 {
		l.o.Logger.LogAttrs(ctx, slog.LevelInfo, "leader lock taken: waiting out the previous holder's term",
			slog.String("process", l.o.Name), slog.Duration("wait", wait.Round(time.Millisecond)))
	}
	return nil
}

// beat proves the session, and so the lock, is still there, and adds one
// to the beat counter, committed before the beat counts: a process that
// takes the lock after this session has ended sees it.
func (l *Leader) beat(ctx context.Context, conn *pgx.Conn) error {
	qctx, cancel := context.WithTimeout(ctx, l.o.Heartbeat+l.o.Margin)
	defer cancel()
	// One round trip on the simple protocol: the counter, its commit and
	// the next transaction (the one whose idleness the server times out;
	// the advisory lock is the session's, not the transaction's). The key
	// is an integer, written in as one.
	q := fmt.Sprintf(`INSERT INTO leader_lease (lock_key, beat) VALUES (%d, 1)
		ON CONFLICT (lock_key) DO UPDATE SET beat = leader_lease.beat + 1, released = false;
		COMMIT; BEGIN`, l.o.Key)
	if _, err := conn.Exec(qctx, q); err != nil {
		return fmt.Errorf("storage: leader: heartbeat: %w", err)
	}
	return nil
}

// release ends the term of a process that stops and, when its term had
// begun (the previous holder's had surely ended), marks the lease released
// so that the next holder begins at once. Without that mark, the next one
// waits heartbeat + margin: slower, never unsafe.
func (l *Leader) release(conn *pgx.Conn) {
	l.end("stopping")
	if time.Now().Before(l.notBefore) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// The lock is freed here, not only when the connection closes: the
	// session is out of any transaction now, where the server's idle
	// timeout does not reach it, and a close lost in a partition would
	// leave it holding the lock until TCP gives up.
	_, _ = conn.Exec(ctx, fmt.Sprintf(`UPDATE leader_lease SET released = true WHERE lock_key = %d; COMMIT; SELECT pg_advisory_unlock(%d)`, l.o.Key, l.o.Key))
}

// renew extends the term to Heartbeat+Margin after start (when the
// successful statement was sent), beginning a term when none runs and the
// previous holder's has surely ended (notBefore): a beat that succeeds
// after the last one was late proves the session, and so the lock,
// survived, and nobody else can have led meanwhile.
func (l *Leader) renew(start time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	until := start.Add(l.o.Heartbeat + l.o.Margin)
	now := time.Now()
	if late(now, until) {
		l.currentLocked() // too late to count
		return
	}
	if l.term == nil && now.Before(l.notBefore) {
		return // still waiting out the previous holder
	}
	l.validUntil = until
	if l.currentLocked() == nil {
		l.term = &term{l: l, done: make(chan struct{})}
		close(l.next)
		l.next = make(chan struct{})
		l.o.Logger.LogAttrs(context.Background(), slog.LevelInfo, "leadership acquired: this process runs the leader-only tasks",
			slog.String("process", l.o.Name))
	}
	wait := time.Until(until)
	if l.expiry == nil {
		l.expiry = time.AfterFunc(wait, l.expire)
	} else {
		l.expiry.Reset(wait)
	}
}

// expire ends a term whose heartbeat did not come in time.
func (l *Leader) expire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.currentLocked()
}

// end ends the current term, if any.
func (l *Leader) end(reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLocked(reason)
}

func (l *Leader) endLocked(reason string) {
	if l.term == nil {
		return
	}
	close(l.term.done)
	l.term = nil
	l.validUntil = time.Time{}
	if l.expiry != nil {
		l.expiry.Stop()
	}
	l.o.Logger.LogAttrs(context.Background(), slog.LevelWarn, "leadership lost: leader-only tasks stopped",
		slog.String("process", l.o.Name), slog.String("reason", reason))
}

// term is one term's context: Done and Err check the heartbeat's age
// first, so work that looks at its context after a pause sees the term
// ended even before the expiry timer has run.
type term struct {
	l    *Leader
	done chan struct{}
}

func (t *term) Deadline() (time.Time, bool) { return time.Time{}, false }
func (t *term) Value(any) any               { return nil }

func (t *term) Done() <-chan struct{} {
	t.check()
	return t.done
}

func (t *term) Err() error {
	t.check()
	select {
	case <-t.done:
		return errTermEnded
	default:
		return nil
	}
}

func (t *term) String() string { return "storage.leaderTerm" }

func (t *term) check() {
	select {
	case <-t.done:
		return
	default:
	}
	if t.l != nil {
		t.l.Leading()
	}
}

// endedTerm is the context Term returns while not leading.
var endedTerm = func() *term {
	t := &term{done: make(chan struct{})}
	close(t.done)
	return t
}()
