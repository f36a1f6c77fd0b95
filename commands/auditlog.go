package commands

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Sizes of the background audit writer: rows it holds before a command
// writes its own row synchronously, and rows queued that make it write
// without waiting for quiet.
const (
	auditQueueSize = 4096
	auditMaxBatch  = 1024
	// auditChunk is how many rows one transaction writes: a short one,
	// so that commands that come back during a write wait for at most one
	// (writeWhileQuiet).
	auditChunk = 128
	// auditWriteTimeout bounds one batch's transaction.
	auditWriteTimeout = 30 * time.Second
	// auditQuiet is how long no command must have been answered before
	// the writer writes what it holds, and auditMaxDelay how long it holds
	// a row at most: the rows of a burst of commands are written once the
	// burst is over (or has lasted auditMaxDelay), rather than during it,
	// where their SQLite work would compete with the burst's
	// acknowledgements for the CPU. On a busy machine a burst pauses for
	// milliseconds, even tens of them (a garbage collection, the process
	// preempted by others): the 5 ms quiet period this writer had started
	// its transaction in such pauses, in most bursts of
	// BenchmarkSlackAckLatency (cmd/clorebot), and the transaction's CPU
	// then delayed every acknowledgement behind it — the tail of that
	// benchmark. A longer quiet period makes such starts rare, and a write
	// that starts anyway gives way after one chunk when commands come
	// back (writeWhileQuiet). auditMaxDelay is what a SIGKILL can lose
	// beyond the rows queued behind a write in progress.
	auditQuiet    = 25 * time.Millisecond
	auditMaxDelay = time.Second
)

// auditLog writes the audit rows of commands that create no job (help,
// market, status, watch, refusals, usage errors) in the background, so that
// answering them never waits for a SQLite commit: rows are queued in order
// and one goroutine writes whatever has accumulated, in transactions of
// auditChunk rows (AppendAuditBatch), once commands stop arriving, so a
// burst of commands costs a few commits after it, not one each nor any in
// its middle. Rows of commands that create a job are written synchronously
// with the job.
//
// Queueing a row is an append under a mutex that the writer holds only to
// take the queue, never during a write: the command that queues it neither
// waits for the writer nor wakes it (only the first row of a batch does),
// and the queue reuses the array of the batch written before.
//
// While the writer is not running (before Service.Run, after it returned,
// or in `clorebot exec`), and whenever the queue is full, a row is written
// synchronously instead: a row is never dropped for lack of room. Stopping
// the writer (Service.Run returning on a graceful shutdown) writes every
// queued row first. A process killed with SIGKILL loses the rows still
// queued: at most the last auditMaxDelay (a second) of answered commands
// that created nothing (see the README's audit notes).
type auditLog struct {
	store AuditStore
	log   *slog.Logger
	size  int // queue capacity (auditQueueSize)

	mu     sync.Mutex
	open   bool
	queue  []auditItem   // taken by the writer as a whole
	last   time.Time     // when the newest row was queued
	wake   chan struct{} // (1) the queue became non-empty, or stop
	urgent chan struct{} // (1) a flush or stop waits: write now
	done   chan struct{}
	spare  []auditItem // the writer's previous batch, reused as the next queue
}

// auditItem is a row to write, or (flushed non-nil) a marker that Flush
// waits on: it is closed once every row queued before it is written.
type auditItem struct {
	entry   AuditEntry
	flushed chan struct{}
}

func newAuditLog(store AuditStore, log *slog.Logger) *auditLog {
	return &auditLog{store: store, log: log, size: auditQueueSize}
}

// start runs the background writer; false when it runs already (the caller
// then must not stop it).
func (l *auditLog) start() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open {
		return false
	}
	l.open = true
	l.wake = make(chan struct{}, 1)
	l.urgent = make(chan struct{}, 1)
	l.done = make(chan struct{})
	go l.run(l.wake, l.urgent, l.done)
	return true
}

// stop writes every queued row and ends the writer; rows added afterwards
// are written synchronously.
func (l *auditLog) stop() {
	l.mu.Lock()
	if !l.open {
		l.mu.Unlock()
		return
	}
	l.open = false
	wake, urgent, done := l.wake, l.urgent, l.done
	l.mu.Unlock()
	signal(urgent)
	signal(wake)
	<-done
}

// signal sends on a channel of capacity 1 unless a signal is pending.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// add records e: queued when the writer runs and has room, else written
// now.
func (l *auditLog) add(ctx context.Context, e AuditEntry) {
	l.mu.Lock()
	if !l.open || len(l.queue) >= l.size {
		l.mu.Unlock()
		l.write(ctx, e) // not running, or full: write it ourselves rather than drop it
		return
	}
	if l.queue == nil {
		l.queue, l.spare = l.spare[:0], nil
	}
	l.queue = append(l.queue, auditItem{entry: e})
	l.last = time.Now()
	first, wake := len(l.queue) == 1, l.wake
	if len(l.queue) == auditMaxBatch {
		signal(l.urgent) // a batch's worth: the stream goes on, write it now
	}
	l.mu.Unlock()
	if first {
		signal(wake)
	}
}

// keepsUp reports whether the writer runs and its queue is less than half
// full: add then queues a row without writing it.
func (l *auditLog) keepsUp() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open && len(l.queue) < l.size/2
}

// write records e synchronously.
func (l *auditLog) write(ctx context.Context, e AuditEntry) {
	if _, err := l.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		l.log.LogAttrs(ctx, slog.LevelError, "audit write failed", slog.String("command", e.Command), slog.Any("error", err))
	}
}

// flush waits until every row queued before the call is written, or ctx
// ends.
func (l *auditLog) flush(ctx context.Context) error {
	ch := make(chan struct{})
	l.mu.Lock()
	if !l.open {
		l.mu.Unlock()
		return nil
	}
	l.queue = append(l.queue, auditItem{flushed: ch}) // a marker takes no row's room
	signal(l.urgent)                                  // under mu: take clears it with the marker taken
	signal(l.wake)
	l.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the writer: once rows are queued it waits for the commands to
// stop arriving (quiet), takes the queue and writes it (writeWhileQuiet),
// until stop.
func (l *auditLog) run(wake, urgent <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var since time.Time // when the writer began waiting for the oldest row not written
	for range wake {
		if since.IsZero() {
			since = time.Now()
		}
		deadline := since.Add(auditMaxDelay)
		l.quiet(timer, urgent, deadline)
		batch, closing, flushing := l.take()
		rest := l.writeWhileQuiet(batch, urgent, deadline, closing || flushing || len(batch) >= auditMaxBatch)
		if len(rest) > 0 {
			// The row that cut the write short signalled wake: wait for
			// quiet again, then write the rest first.
			l.giveBack(batch, rest)
			continue
		}
		since = time.Time{}
		l.recycle(batch)
		if closing {
			return
		}
	}
}

// quiet returns once no row was queued for auditQuiet, at the deadline,
// or at once when a flush or stop asks for the rows or a batch's worth
// (auditMaxBatch) is queued.
func (l *auditLog) quiet(timer *time.Timer, urgent <-chan struct{}, deadline time.Time) {
	for {
		l.mu.Lock()
		next, full := l.last.Add(auditQuiet), len(l.queue) >= auditMaxBatch
		l.mu.Unlock()
		now := time.Now()
		wait := min(next.Sub(now), deadline.Sub(now))
		if wait <= 0 || full {
			return
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-urgent:
			timer.Stop()
			return
		}
	}
}

// writeWhileQuiet writes batch in transactions of auditChunk rows, and
// returns the rows it left: those after a chunk that ended with a row
// queued since the write began, when the commands came back (a pause inside
// a burst, not its end: on a busy machine a burst pauses for tens of
// milliseconds): their acknowledgements then have the CPU, and the rest
// waits for the next quiet period. It writes everything when must (the
// writer stops, a flush waits, or it took a batch's worth: it must keep
// up), when the deadline passed, or when a batch's worth is queued behind.
func (l *auditLog) writeWhileQuiet(batch []auditItem, urgent <-chan struct{}, deadline time.Time, must bool) []auditItem {
	start := time.Now()
	for len(batch) > 0 {
		n := min(len(batch), auditChunk)
		l.writeBatch(batch[:n])
		batch = batch[n:]
		if len(batch) > 0 && !must && len(urgent) == 0 && time.Now().Before(deadline) && l.resumed(start) {
			return batch
		}
	}
	return nil
}

// resumed reports whether a row was queued since start, with less than a
// batch's worth queued.
func (l *auditLog) resumed(start time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last.After(start) && len(l.queue) < auditMaxBatch
}

// take empties the queue; closing reports that the writer was stopped (no
// row is queued any more), flushing that a flush waits on a marker taken.
// The request of those flushes to write now is cleared with it, so that it
// does not cut short the quiet period of the next burst.
func (l *auditLog) take() (batch []auditItem, closing, flushing bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	batch, l.queue = l.queue, nil
	select {
	case <-l.urgent:
		flushing = true
	default:
	}
	return batch, !l.open, flushing
}

// giveBack puts rest, the part of batch that was not written, back in front
// of the rows queued since batch was taken.
func (l *auditLog) giveBack(batch, rest []auditItem) {
	n := copy(batch, rest)
	clear(batch[n:])
	l.mu.Lock()
	l.queue = append(batch[:n], l.queue...)
	l.mu.Unlock()
}

// recycle keeps a written batch's array for the next queue, so that a burst
// of commands does not grow a new one.
func (l *auditLog) recycle(batch []auditItem) {
	clear(batch) // drop the rows' strings
	l.mu.Lock()
	if cap(batch) <= l.size {
		l.spare = batch[:0]
	}
	l.mu.Unlock()
}

// writeBatch writes the rows of batch in one transaction, then releases its
// flush markers. When the transaction fails, each row is tried on its own,
// so that one bad row does not lose the others.
func (l *auditLog) writeBatch(batch []auditItem) {
	rows := make([]AuditEntry, 0, len(batch))
	for _, it := range batch {
		if it.flushed == nil {
			rows = append(rows, it.entry)
		}
	}
	defer func() {
		for _, it := range batch {
			if it.flushed != nil {
				close(it.flushed)
			}
		}
	}()
	if len(rows) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), auditWriteTimeout)
	defer cancel()
	if err := l.store.AppendAuditBatch(ctx, rows); err != nil {
		l.log.LogAttrs(ctx, slog.LevelWarn, "audit batch failed; writing its rows one by one",
			slog.Int("rows", len(rows)), slog.Any("error", err))
		for _, e := range rows {
			l.write(ctx, e)
		}
	}
}

// auditDetailMax is how much of a reply's text an audit row keeps.
const auditDetailMax = 200

// auditDetails makes the detail of audit rows (auditDetail, cut to
// auditDetailMax bytes) and remembers the last one: the same answer again
// (help, a usage error), as a burst of commands gets, costs a comparison
// of its first bytes rather than an Unmark that allocates once per mark.
type auditDetails struct {
	last atomic.Pointer[auditDetailOf]
}

// auditDetailOf is the detail of a reply text, by the part of it read.
type auditDetailOf struct{ read, detail string }

// of is the audit detail of text.
func (d *auditDetails) of(text string) string {
	read := text[:min(len(text), auditDetailRead)]
	if last := d.last.Load(); last != nil && last.read == read {
		return last.detail
	}
	detail := auditDetail(read)
	if len(detail) > auditDetailMax {
		detail = detail[:auditDetailMax]
	}
	d.last.Store(&auditDetailOf{read: read, detail: detail})
	return detail
}
