package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The tests run in synctest bubbles: gocron's timers use the bubble's fake
// time, which advances only when every goroutine waits, so the schedule is
// exact and nothing sleeps for real.

func newScheduler(t *testing.T) *Scheduler {
	t.Helper()
	s, err := New(Options{StopTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stop stops s, also when a test failed: no goroutine outlives its bubble.
func stop(t *testing.T, s *Scheduler) {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Error(err)
	}
}

func TestEveryRunsAtStartThenEachInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		defer stop(t, s)
		var n atomic.Int32
		if err := s.Every("tick", time.Minute, func(context.Context) error {
			n.Add(1)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s.Start()
		synctest.Wait()
		if got := n.Load(); got != 1 {
			t.Fatalf("runs at start = %d, want 1", got)
		}
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if got := n.Load(); got != 1 {
			t.Fatalf("runs before the interval = %d, want 1", got)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		// 0s, 60s, ..., 600s. gocron occasionally reschedules the run after
		// the immediate start twice, which adds one run (not a backlog).
		if got := n.Load(); got < 11 || got > 12 {
			t.Fatalf("runs at 10m59s = %d, want 11", got)
		}
	})
}

// A run that outlasts its interval is never overlapped, and the runs it
// missed are not made up one by one afterwards.
func TestSingletonSkipsMissedRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		defer stop(t, s)
		var running, overlaps, n atomic.Int32
		if err := s.Every("slow", time.Second, func(ctx context.Context) error {
			if running.Add(1) > 1 {
				overlaps.Add(1)
			}
			defer running.Add(-1)
			if n.Add(1) == 1 {
				time.Sleep(10*time.Second + 500*time.Millisecond) // ten intervals
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s.Start()
		time.Sleep(10*time.Second + 600*time.Millisecond)
		synctest.Wait()
		if got := n.Load(); got != 1 {
			t.Fatalf("runs while the first ran = %d, want 1", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		// The ten missed intervals are not made up; gocron may add the one
		// extra run noted above.
		if got := n.Load(); got < 2 || got > 3 {
			t.Fatalf("runs one interval after the slow run = %d, want 2 (missed runs made up?)", got)
		}
		if overlaps.Load() != 0 {
			t.Fatalf("%d overlapping runs", overlaps.Load())
		}
	})
}

// Stop ends the running task's context and waits for it to return. (Not in
// a bubble: gocron polls the wall clock while it waits for running tasks.)
func TestStopCancelsAndWaits(t *testing.T) {
	s := newScheduler(t)
	started, cancelled, letGo := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var returned atomic.Bool
	if err := s.Every("long", time.Hour, func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		close(cancelled)
		<-letGo // cleanup after the stop
		returned.Store(true)
		return ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	<-started
	go func() {
		<-cancelled
		close(letGo)
	}()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if !returned.Load() {
		t.Fatal("Stop returned before the task did")
	}
}

func TestFailingAndPanickingTasksKeepRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		defer stop(t, s)
		var n atomic.Int32
		if err := s.Every("bad", time.Second, func(context.Context) error {
			if n.Add(1) == 1 {
				panic("boom")
			}
			return errors.New("clore down")
		}); err != nil {
			t.Fatal(err)
		}
		s.Start()
		time.Sleep(2*time.Second + time.Millisecond)
		synctest.Wait()
		// Runs at 0, 1 s and 2 s; gocron may count the immediate start
		// and the first interval from slightly different instants, and
		// once in a full -race run under load it ran 6 times in the
		// bubble's 2 s: what matters is that the panic and the failure
		// did not stop the task, nor made it run in a loop.
		if got := n.Load(); got < 3 || got > 8 {
			t.Fatalf("runs = %d, want 3 to 8", got)
		}
	})
}

func TestEveryRefusesBadRegistrations(t *testing.T) {
	s := newScheduler(t)
	t.Cleanup(func() { _ = s.Stop() })
	nop := func(context.Context) error { return nil }
	if err := s.Every("x", 0, nop); err == nil {
		t.Error("zero interval accepted")
	}
	if err := s.Every("x", time.Second, nop); err != nil {
		t.Fatal(err)
	}
	if err := s.Every("x", time.Second, nop); err == nil {
		t.Error("duplicate name accepted")
	}
	if err := s.RunNow("nope"); err == nil {
		t.Error("RunNow of an unknown task accepted")
	}
}

func TestRunNowRunsBeforeTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		defer stop(t, s)
		var n atomic.Int32
		if err := s.Every("tick", time.Hour, func(context.Context) error {
			n.Add(1)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s.Start()
		synctest.Wait()
		if err := s.RunNow("tick"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := n.Load(); got != 2 {
			t.Fatalf("runs = %d, want 2", got)
		}
	})
}

func TestStopTwice(t *testing.T) {
	s := newScheduler(t)
	if err := s.Every("tick", time.Hour, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	s.Start()
	for range 2 {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// RunNow while the task runs: one more run right after it (however many
// RunNow calls came), so what was written before asking is never left for
// the next interval; no overlap.
func TestRunNowWhileRunningRunsOnceMoreAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		defer stop(t, s)
		var n, running, overlaps atomic.Int32
		release := make(chan struct{})
		if err := s.Every("outbox", time.Hour, func(context.Context) error {
			if running.Add(1) > 1 {
				overlaps.Add(1)
			}
			defer running.Add(-1)
			if n.Add(1) == 1 {
				<-release
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s.Start()
		synctest.Wait()
		for range 3 {
			if err := s.RunNow("outbox"); err != nil {
				t.Fatal(err)
			}
		}
		close(release)
		synctest.Wait()
		if got := n.Load(); got != 2 {
			t.Fatalf("runs = %d, want 2 (the first, then one for the RunNow calls during it)", got)
		}
		if overlaps.Load() != 0 {
			t.Fatalf("%d overlapping runs", overlaps.Load())
		}
	})
}

// An on-demand task runs only when asked.
func TestOnDemandRunsOnlyWhenAsked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		defer stop(t, s)
		var n atomic.Int32
		if err := s.OnDemand("refresh", func(context.Context) error {
			n.Add(1)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s.Start()
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		if got := n.Load(); got != 0 {
			t.Fatalf("runs without asking = %d", got)
		}
		if err := s.RunNow("refresh"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := n.Load(); got != 1 {
			t.Fatalf("runs = %d, want 1", got)
		}
	})
}

// Kick returns at once and runs the task; kicks while it runs make one
// more run after it, however many there are.
func TestKickRunsWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		defer stop(t, s)
		var n atomic.Int32
		release := make(chan struct{})
		if err := s.OnDemand("refresh", func(context.Context) error {
			if n.Add(1) == 1 {
				<-release
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s.Start()
		s.Kick("refresh")
		s.Kick("nope") // unknown: ignored
		synctest.Wait()
		if got := n.Load(); got != 1 {
			t.Fatalf("runs after a kick = %d, want 1", got)
		}
		for range 5 {
			s.Kick("refresh")
		}
		close(release)
		synctest.Wait()
		if got := n.Load(); got != 2 {
			t.Fatalf("runs = %d, want 2", got)
		}
	})
}

func TestRecoveredTurnsAPanicIntoAnError(t *testing.T) {
	ran := false
	err := errors.Join(
		Recovered(context.Background(), func(context.Context) error { panic("boom") }),
		Recovered(context.Background(), func(context.Context) error { ran = true; return nil }))
	if err == nil || !strings.Contains(err.Error(), "panic: boom") || !ran {
		t.Fatalf("err %v, second part ran %v: want the panic as an error and the second part run", err, ran)
	}
}
