package scheduler

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// lockedBuffer is a log destination safe for the scheduler's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// Tasks that run every second and succeed write nothing, even at DEBUG; a
// run that outlasts its interval says so once, with its durations as text.
func TestSucceedingTasksLogNothingAtDebug(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf lockedBuffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s, err := New(Options{Logger: log, StopTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer stop(t, s)
		quick := func(context.Context) error { return nil }
		runs := 0
		slow := func(context.Context) error {
			if runs++; runs == 3 {
				time.Sleep(1500 * time.Millisecond)
			}
			return nil
		}
		for _, err := range []error{s.Every("deliveries", time.Second, quick), s.Every("outbox", time.Second, quick),
			s.Every("slow", time.Second, slow)} {
			if err != nil {
				t.Fatal(err)
			}
		}
		s.Start()
		synctest.Wait()
		buf.take() // gocron's start-up lines
		time.Sleep(10 * time.Second)
		synctest.Wait()
		got := buf.take()
		lines := strings.Split(strings.TrimSpace(got), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "task=slow") || !strings.Contains(lines[0], "outlasted its interval") ||
			!strings.Contains(lines[0], "took=1.5s") {
			t.Fatalf("10 s of three tasks every second logged:\n%s", got)
		}
	})
}
