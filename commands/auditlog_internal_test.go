package commands

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// auditStore records audit rows; while gate is set, batch writes wait on it.
type auditStore struct {
	Store
	mu      sync.Mutex
	rows    []string
	batches int
	singles int
	gate    chan struct{}
	entered chan struct{} // a batch write began waiting on gate
}

func (s *auditStore) AppendAudit(_ context.Context, e AuditEntry) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.singles++
	s.rows = append(s.rows, e.Command)
	return int64(len(s.rows)), nil
}

func (s *auditStore) AppendAuditBatch(_ context.Context, es []AuditEntry) error {
	if s.gate != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	for _, e := range es {
		s.rows = append(s.rows, e.Command)
	}
	return nil
}

func (s *auditStore) snapshot() (rows []string, batches, singles int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rows...), s.batches, s.singles
}

func gatedStore() *auditStore {
	return &auditStore{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
}

func entry(i int) AuditEntry {
	return AuditEntry{Command: fmt.Sprintf("help %d", i), Outcome: StatusOK}
}

// Rows queued while a batch is being written go out together in the next
// transaction, in order; Flush returns once they are written.
func TestAuditLogBatchesInOrder(t *testing.T) {
	st := gatedStore()
	l := newAuditLog(st, slog.New(slog.DiscardHandler))
	l.start()
	defer l.stop()
	ctx := context.Background()
	l.add(ctx, entry(0))
	<-st.entered // the writer holds row 0 in a transaction that waits
	for i := 1; i < 300; i++ {
		l.add(ctx, entry(i))
	}
	close(st.gate)
	if err := l.flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows, batches, singles := st.snapshot()
	if len(rows) != 300 || singles != 0 {
		t.Fatalf("%d rows (%d written alone), want 300 in batches", len(rows), singles)
	}
	for i, r := range rows {
		if r != entry(i).Command {
			t.Fatalf("row %d = %q, want %q", i, r, entry(i).Command)
		}
	}
	if want := 1 + (299+auditChunk-1)/auditChunk; batches != want {
		t.Errorf("%d transactions for 300 rows, want %d (1 + the 299 queued behind it, by auditChunk)", batches, want)
	}
}

// A full queue never drops a row: the command writes its own row at once.
func TestAuditLogFullQueueWritesSynchronously(t *testing.T) {
	st := gatedStore()
	l := newAuditLog(st, slog.New(slog.DiscardHandler))
	l.size = 4
	l.start()
	ctx := context.Background()
	l.add(ctx, entry(0))
	<-st.entered
	for i := 1; i < 10; i++ { // 4 fit in the queue, 5 do not
		l.add(ctx, entry(i))
	}
	if _, _, singles := st.snapshot(); singles != 5 {
		t.Errorf("%d rows written synchronously with the queue full, want 5", singles)
	}
	close(st.gate)
	l.stop()
	if rows, _, _ := st.snapshot(); len(rows) != 10 {
		t.Errorf("%d rows written, want all 10: %v", len(rows), rows)
	}
}

// Stopping the writer (a graceful shutdown) writes what is queued first;
// rows added before start or after stop are written synchronously.
func TestAuditLogStopWritesQueuedRows(t *testing.T) {
	st := gatedStore()
	l := newAuditLog(st, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	l.add(ctx, entry(0)) // not started: written now
	if rows, _, singles := st.snapshot(); len(rows) != 1 || singles != 1 {
		t.Fatalf("before start: rows %v, %d written alone", rows, singles)
	}
	if !l.start() || l.start() {
		t.Fatal("start must report true once, then false while running")
	}
	for i := 1; i <= 50; i++ {
		l.add(ctx, entry(i))
	}
	close(st.gate)
	l.stop()
	if rows, _, _ := st.snapshot(); len(rows) != 51 {
		t.Fatalf("after stop: %d rows, want 51", len(rows))
	}
	l.add(ctx, entry(51))
	if err := l.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rows, _, singles := st.snapshot(); len(rows) != 52 || singles != 2 {
		t.Fatalf("after stop: %d rows (%d alone), want 52 with the last written alone", len(rows), singles)
	}
}

// Commands racing a shutdown neither lose rows nor panic on a closed queue.
func TestAuditLogConcurrentAddAndStop(t *testing.T) {
	st := &auditStore{}
	l := newAuditLog(st, slog.New(slog.DiscardHandler))
	l.start()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				l.add(context.Background(), entry(g*100+i))
				if i == 50 && g == 0 {
					l.stop()
				}
			}
		})
	}
	wg.Wait()
	if rows, _, _ := st.snapshot(); len(rows) != 800 {
		t.Fatalf("%d rows, want 800", len(rows))
	}
}

// A burst of rows (one every 2 ms, under auditQuiet apart, with pauses of
// up to 20 ms as a busy machine makes) is written as one transaction once it
// is over, not in small ones during it; a stream that never pauses is still
// written every auditMaxDelay; a lone row waits auditQuiet only.
func TestAuditLogWritesABurstOnceItIsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &auditStore{}
		l := newAuditLog(st, slog.New(slog.DiscardHandler))
		l.start()
		defer l.stop()
		ctx := context.Background()
		for i := range 40 { // 80 ms of burst, and 3 pauses
			l.add(ctx, entry(i))
			pause := 2 * time.Millisecond
			if i%10 == 9 {
				pause = 20 * time.Millisecond
			}
			time.Sleep(pause)
			synctest.Wait()
			if _, batches, _ := st.snapshot(); batches != 0 {
				t.Fatalf("a batch was written during the burst, after row %d", i)
			}
		}
		time.Sleep(auditQuiet)
		synctest.Wait()
		if rows, batches, singles := st.snapshot(); len(rows) != 40 || batches != 1 || singles != 0 {
			t.Fatalf("after the burst: %d rows in %d batches (%d alone), want 40 in 1", len(rows), batches, singles)
		}

		// A stream with no pause: written every auditMaxDelay at the latest.
		_, first, _ := st.snapshot()
		start := time.Now()
		for i := range 1000 { // 2 s
			l.add(ctx, entry(i))
			time.Sleep(2 * time.Millisecond)
		}
		synctest.Wait()
		if _, batches, _ := st.snapshot(); batches-first < 2 {
			t.Fatalf("a 2 s stream was written in %d batches in %v, want one per auditMaxDelay", batches-first, time.Since(start))
		}
		time.Sleep(auditQuiet)
		synctest.Wait()

		// A lone row: written auditQuiet later.
		_, before, _ := st.snapshot()
		l.add(ctx, entry(0))
		time.Sleep(auditQuiet - time.Millisecond)
		synctest.Wait()
		if _, b, _ := st.snapshot(); b != before {
			t.Fatal("a lone row was written before auditQuiet")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if _, b, _ := st.snapshot(); b != before+1 {
			t.Fatal("a lone row was not written auditQuiet later")
		}
	})
}

// slowAuditStore takes a virtual millisecond per batch (under synctest).
type slowAuditStore struct{ auditStore }

func (s *slowAuditStore) AppendAuditBatch(ctx context.Context, es []AuditEntry) error {
	time.Sleep(time.Millisecond)
	return s.auditStore.AppendAuditBatch(ctx, es)
}

// Commands that come back while the writer writes what a pause of a burst
// left (a pause longer than auditQuiet: on a busy machine a burst pauses
// for tens of milliseconds) have the CPU: the writer stops after the
// transaction in progress and writes the rest, in order, once the burst is
// over.
func TestAuditLogYieldsToABurstThatResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &slowAuditStore{}
		l := newAuditLog(st, slog.New(slog.DiscardHandler))
		l.start()
		defer l.stop()
		ctx := context.Background()
		n := 0
		for range 3 * auditChunk { // the first part of the burst
			l.add(ctx, entry(n))
			n++
		}
		time.Sleep(auditQuiet + time.Millisecond/2) // the pause: the writer is in its first transaction
		for range 20 {                              // the burst resumes, a row every 2 ms
			l.add(ctx, entry(n))
			n++
			time.Sleep(2 * time.Millisecond)
		}
		synctest.Wait()
		if rows, batches, _ := st.snapshot(); batches != 1 || len(rows) > auditChunk {
			t.Fatalf("%d rows in %d transactions while the burst went on, want 1 of at most %d (the one begun in its pause)",
				len(rows), batches, auditChunk)
		}
		time.Sleep(auditQuiet + 10*time.Millisecond)
		synctest.Wait()
		rows, _, singles := st.snapshot()
		if len(rows) != n || singles != 0 {
			t.Fatalf("after the burst: %d rows (%d alone), want %d", len(rows), singles, n)
		}
		for i, r := range rows {
			if r != entry(i).Command {
				t.Fatalf("row %d = %q, want %q", i, r, entry(i).Command)
			}
		}
	})
}

// AnswersFromMemory: help and commands that do not parse, and only while
// the audit writer runs with room in its queue (Handle would otherwise
// write the row itself).
func TestAnswersFromMemory(t *testing.T) {
	st := gatedStore()
	s := &Service{audits: newAuditLog(st, slog.New(slog.DiscardHandler))}
	s.audits.size = 4
	help := Request{Text: "help"}
	if s.AnswersFromMemory(help) {
		t.Error("answered from memory with the audit writer stopped")
	}
	s.audits.start()
	defer func() { close(st.gate); s.audits.stop() }()
	for text, want := range map[string]bool{
		"help": true, "help rent": true, "": true, "frobnicate": true, "rent": true, "rent 3090 --max -1": true,
		"cancel abc": true, "market": false, "status": false, "rent 3090": false, "cancel 12": false, "watch list": false,
	} {
		if got := s.AnswersFromMemory(Request{Text: text}); got != want {
			t.Errorf("AnswersFromMemory(%q) = %v, want %v", text, got, want)
		}
	}
	if s.AnswersFromMemory(Request{Text: "help", Action: &Action{}}) {
		t.Error("a button click answered from memory")
	}
	// The parse a request carries is the one judged; its text is not
	// parsed again.
	helpCmd, _ := Parse("help")
	rentCmd, _ := Parse("rent 3090")
	for _, tc := range []struct {
		req  Request
		want bool
	}{
		{Request{Text: "rent 3090", Command: &helpCmd}, true},
		{Request{Text: "help", Command: &rentCmd}, false},
		{Request{Text: "rent 3090", Invalid: &UsageError{Problem: "p"}}, true},
	} {
		if got := s.AnswersFromMemory(tc.req); got != tc.want {
			t.Errorf("AnswersFromMemory(text %q, command %v, invalid %v) = %v, want %v",
				tc.req.Text, tc.req.Command, tc.req.Invalid, got, tc.want)
		}
	}
	ctx := context.Background()
	s.audits.add(ctx, entry(0))
	<-st.entered // the writer holds row 0; the queue fills behind it
	s.audits.add(ctx, entry(1))
	if !s.AnswersFromMemory(help) {
		t.Error("not answered from memory with the queue a quarter full")
	}
	s.audits.add(ctx, entry(2))
	if s.AnswersFromMemory(help) {
		t.Error("answered from memory with the audit queue half full")
	}
}

// The command layer's part of a help acknowledgement (AnswerFromMemory:
// parse once, policy, the answer written once, its audit row queued) stays
// within a few allocations, whatever the size of the answer: a burst of
// help is not the garbage collector's work. It took 21 (AnswersFromMemory
// then Handle: the text parsed twice, and the audit detail's Unmark of the
// 2.4 KB answer made 11), 6 now.
func TestHelpFromMemoryAllocations(t *testing.T) {
	st := gatedStore() // a batch write would wait: rows stay queued
	s := New(Options{Store: st, Policy: Policy{Renters: []string{"slack:UALICE"}}})
	s.audits.start()
	defer func() { close(st.gate); s.audits.stop() }()
	ctx := context.Background()
	// Parsing (tokens, arguments), the audit string, the intake record.
	for text, max := range map[string]float64{"help": 8, "help rent": 12} {
		req := Request{Platform: PlatformSlack, User: "slack:UALICE", Channel: "C1", Text: text}
		if r, ok := s.AnswerFromMemory(ctx, req); !ok || r.Status != StatusOK {
			t.Fatalf("%q not answered from memory: %+v", text, r)
		}
		if allocs := testing.AllocsPerRun(200, func() { s.AnswerFromMemory(ctx, req) }); allocs > max {
			t.Errorf("%q from memory: %.0f allocations, want at most %.0f", text, allocs, max)
		} else {
			t.Logf("%q from memory: %.0f allocations", text, allocs)
		}
	}
}
