package commands

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Sizes of the background audit writer: rows it holds before a command
// writes its own row synchronously, and rows per transaction.
const (
	auditQueueSize = 4096
	auditMaxBatch  = 512
	// auditWriteTimeout bounds one batch's transaction.
	auditWriteTimeout = 30 * time.Second
	// auditLinger is how long the writer waits after each row for the
	// next one to join its batch, and auditMaxDelay how long it holds a
	// batch's first row at most: the rows of a burst of commands are
	// written together once the burst is over (or has lasted
	// auditMaxDelay), in one transaction, rather than in small ones
	// whose SQLite work would compete with the burst's acknowledgements
	// for the CPU. auditMaxDelay is what a SIGKILL can lose beyond the
	// rows queued behind a write in progress.
	auditLinger   = 5 * time.Millisecond
	auditMaxDelay = 250 * time.Millisecond
)

// auditLog writes the audit rows of commands that create no job (help,
// market, status, watch, refusals, usage errors) in the background, so that
// answering them never waits for a SQLite commit: rows are queued in order
// and one goroutine writes whatever has accumulated as one transaction
// (AppendAuditBatch), so a burst of commands costs a few commits, not one
// each. Rows of commands that create a job are written synchronously with
// the job.
//
// While the writer is not running (before Service.Run, after it returned,
// or in `clorebot exec`), and whenever the queue is full, a row is written
// synchronously instead: a row is never dropped for lack of room. Stopping
// the writer (Service.Run returning on a graceful shutdown) writes every
// queued row first. A process killed with SIGKILL loses the rows still
// queued: at most the last auditMaxDelay (a quarter second) of answered commands that
// created nothing (see the README's audit notes).
type auditLog struct {
	store Store
	log   *slog.Logger
	size  int // queue capacity (auditQueueSize)

	mu    sync.RWMutex // guards open and the closing of queue
	open  bool
	queue chan auditItem
	done  chan struct{}
}

// auditItem is a row to write, or (flushed non-nil) a marker that Flush
// waits on: it is closed once every row queued before it is written.
type auditItem struct {
	entry   AuditEntry
	flushed chan struct{}
}

func newAuditLog(store Store, log *slog.Logger) *auditLog {
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
	l.queue = make(chan auditItem, l.size)
	l.done = make(chan struct{})
	go l.run(l.queue, l.done)
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
	close(l.queue)
	done := l.done
	l.mu.Unlock()
	<-done
}

// add records e: queued when the writer runs and has room, else written
// now.
func (l *auditLog) add(ctx context.Context, e AuditEntry) {
	l.mu.RLock()
	queued := false
	if l.open {
		select {
		case l.queue <- auditItem{entry: e}:
			queued = true
		default: // full: write it ourselves rather than drop it
		}
	}
	l.mu.RUnlock()
	if !queued {
		l.write(ctx, e)
	}
}

// keepsUp reports whether the writer runs and its queue is less than half
// full: add then queues a row without writing it.
func (l *auditLog) keepsUp() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.open && len(l.queue) < cap(l.queue)/2
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
	l.mu.RLock()
	if !l.open {
		l.mu.RUnlock()
		return nil
	}
	select {
	case l.queue <- auditItem{flushed: ch}:
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	}
	l.mu.RUnlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the writer: it takes what has accumulated (up to auditMaxBatch
// rows) and writes it as one transaction, until queue is closed and empty.
func (l *auditLog) run(queue <-chan auditItem, done chan<- struct{}) {
	defer close(done)
	batch := make([]auditItem, 0, auditMaxBatch)
	linger := time.NewTimer(auditLinger)
	for it := range queue {
		batch = append(batch[:0], it)
		if it.flushed == nil {
			deadline := time.Now().Add(auditMaxDelay)
			linger.Reset(auditLinger)
		gather:
			for len(batch) < auditMaxBatch {
				select {
				case it, ok := <-queue:
					if !ok {
						break gather
					}
					batch = append(batch, it)
					if it.flushed != nil {
						break gather // someone waits: write now
					}
					// Another row: the burst goes on; wait for the
					// next, up to the first row's deadline.
					linger.Reset(min(auditLinger, time.Until(deadline)))
				case <-linger.C:
					break gather
				}
			}
		}
		l.writeBatch(batch)
	}
	linger.Stop()
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
