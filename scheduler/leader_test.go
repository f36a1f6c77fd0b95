package scheduler

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeElector is leadership switched by the test.
type fakeElector struct {
	mu   sync.Mutex
	term context.Context
	end  context.CancelFunc
	next chan struct{}
}

func newFakeElector() *fakeElector { return &fakeElector{next: make(chan struct{})} }

func (e *fakeElector) IsLeader(context.Context) error {
	if _, ok := e.Term(); ok {
		return nil
	}
	return errors.New("not leader")
}

func (e *fakeElector) Term() (context.Context, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term == nil {
		return nil, false
	}
	return e.term, true
}

func (e *fakeElector) NextTerm(ctx context.Context) (context.Context, error) {
	for {
		e.mu.Lock()
		t, next := e.term, e.next
		e.mu.Unlock()
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

func (e *fakeElector) lead() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.term, e.end = context.WithCancel(context.Background())
	close(e.next)
	e.next = make(chan struct{})
}

func (e *fakeElector) lose() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.end != nil {
		e.end()
	}
	e.term, e.end = nil, nil
}

// counter is a task that counts its runs.
func counter(n *atomic.Int32) Task {
	return func(context.Context) error { n.Add(1); return nil }
}

// A follower runs every task but the leader's, and the follower-only ones;
// when it becomes the leader it runs the leader's at once (not an interval
// later) and stops the follower-only ones; when it loses the lead, the
// reverse.
func TestLeaderOnlyTasksFollowLeadership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		el := newFakeElector()
		s, err := New(Options{StopTimeout: 5 * time.Second, Elector: el})
		if err != nil {
			t.Fatal(err)
		}
		defer stop(t, s)
		var watch, refresh, deliver atomic.Int32
		tab := Table{WatchTick: counter(&watch), FollowerTick: counter(&refresh), WatchInterval: time.Minute, Deliveries: counter(&deliver)}
		if err := tab.Register(s); err != nil {
			t.Fatal(err)
		}
		s.Start()
		time.Sleep(90 * time.Second)
		synctest.Wait()
		if w, r, d := watch.Load(), refresh.Load(), deliver.Load(); w != 0 || r < 2 || d < 90 {
			t.Fatalf("as follower: watch tick %d runs (want 0), follower refresh %d (want 2), deliveries %d (want 90+)", w, r, d)
		}
		el.lead()
		synctest.Wait()
		if w := watch.Load(); w != 1 {
			t.Fatalf("becoming leader: watch tick ran %d times at once, want 1", w)
		}
		r := refresh.Load()
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if w := watch.Load(); w < 5 {
			t.Fatalf("as leader: watch tick %d runs in 5 min, want 5+", w)
		}
		if got := refresh.Load(); got != r {
			t.Fatalf("as leader: follower refresh ran %d more times", got-r)
		}
		el.lose()
		w := watch.Load()
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if got := watch.Load(); got != w {
			t.Fatalf("after losing the lead: watch tick ran %d more times", got-w)
		}
		if got := refresh.Load(); got < r+4 {
			t.Fatalf("after losing the lead: follower refresh ran %d more times, want 4+", got-r)
		}
	})
}

// A leader-only run in progress when the leadership ends sees its context
// end, with the cause named.
func TestLeaderOnlyRunStopsWhenTermEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		el := newFakeElector()
		el.lead()
		s, err := New(Options{StopTimeout: 5 * time.Second, Elector: el})
		if err != nil {
			t.Fatal(err)
		}
		defer stop(t, s)
		started, ended := make(chan struct{}, 10), make(chan error, 10)
		if err := s.EveryAs("long", LeaderOnly, time.Hour, func(ctx context.Context) error {
			started <- struct{}{}
			<-ctx.Done()
			ended <- context.Cause(ctx)
			return ctx.Err()
		}); err != nil {
			t.Fatal(err)
		}
		s.Start()
		<-started
		el.lose()
		select {
		case cause := <-ended:
			if !errors.Is(cause, errNotLeading) {
				t.Fatalf("cause %v, want %v", cause, errNotLeading)
			}
		case <-time.After(time.Second):
			t.Fatal("the run went on after the term ended")
		}
	})
}

// lookedTerm is a term that has ended as soon as it is looked at (the
// leader's term after a pause, checking its clock) while its Done channel
// has not been closed yet.
type lookedTerm struct {
	context.Context
	ended atomic.Bool
}

func (t *lookedTerm) Err() error {
	if t.ended.Load() {
		return context.Canceled
	}
	return nil
}

// lookedElector leads with a lookedTerm.
type lookedElector struct{ term *lookedTerm }

func (e lookedElector) IsLeader(context.Context) error { return nil }
func (e lookedElector) Term() (context.Context, bool)  { return e.term, true }
func (e lookedElector) NextTerm(context.Context) (context.Context, error) {
	return e.term, nil
}

// A leader-only run sees its term's end on its first look at its context,
// without waiting for the term's Done channel (and context.AfterFunc).
func TestLeaderOnlyRunSeesTheTermEndOnItsFirstLook(t *testing.T) {
	term := &lookedTerm{Context: context.Background()}
	s, err := New(Options{StopTimeout: 5 * time.Second, Elector: lookedElector{term}})
	if err != nil {
		t.Fatal(err)
	}
	task := s.underTerm("look", func(ctx context.Context) error {
		if ctx.Err() != nil {
			t.Error("the run's context ended while the term runs")
		}
		term.ended.Store(true) // a pause outlasted the term
		if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(context.Cause(ctx), errNotLeading) {
			t.Errorf("first look after the term ended: err %v, cause %v", ctx.Err(), context.Cause(ctx))
		}
		select {
		case <-ctx.Done():
		default:
			t.Error("Done still open after the term ended")
		}
		return nil
	})
	if err := task(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Alone (no elector) a process leads: leader-only tasks run, follower-only
// ones are not even registered.
func TestWithoutElectorTheProcessLeads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler(t)
		defer stop(t, s)
		var watch, refresh atomic.Int32
		if err := (Table{WatchTick: counter(&watch), FollowerTick: counter(&refresh), WatchInterval: time.Minute}).Register(s); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.jobs[TaskFollowerTick]; ok {
			t.Fatal("a follower-only task registered without an elector")
		}
		s.Start()
		time.Sleep(150 * time.Second)
		synctest.Wait()
		if w, r := watch.Load(), refresh.Load(); w < 3 || r != 0 {
			t.Fatalf("watch tick %d runs (want 3), follower refresh %d (want 0)", w, r)
		}
	})
}
