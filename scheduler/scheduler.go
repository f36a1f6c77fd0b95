package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
)

// Task is one run of a periodic task. ctx ends when the scheduler stops; an
// error is logged and the task runs again at its next time.
type Task func(ctx context.Context) error

// Options configures a Scheduler. Every field is optional.
type Options struct {
	// Logger receives gocron's own messages and every task failure.
	Logger *slog.Logger
	// Clock drives the schedule; tests pass clockwork.NewFakeClock().
	Clock clockwork.Clock
	// StopTimeout bounds how long Stop waits for running tasks (default 30 s).
	StopTimeout time.Duration
	// Elector, when set, makes this process one of several on one
	// database (DESIGN.md §8): LeaderOnly tasks run only while it leads,
	// under gocron's distributed elector and under the term's context,
	// which ends the moment leadership does; FollowerOnly tasks run only
	// while it does not. Without one the process is alone and always
	// leads: LeaderOnly tasks always run, FollowerOnly tasks never.
	Elector Elector
}

// Elector says whether this process leads (storage.Leader implements it).
// IsLeader is gocron's Elector and must answer from memory: it is asked
// before every run of a leader-only task.
type Elector interface {
	IsLeader(context.Context) error
	// Term is the current term's context (it ends when the leadership
	// does) and true while this process leads.
	Term() (context.Context, bool)
	// NextTerm waits until this process leads.
	NextTerm(context.Context) (context.Context, error)
}

// Role says which of the processes on one database run a task.
type Role int

const (
	// Everywhere tasks run in every process (deliveries, the job sweep).
	Everywhere Role = iota
	// LeaderOnly tasks run in the leader alone (the watch tick, the
	// digest).
	LeaderOnly
	// FollowerOnly tasks run in every process but the leader (what the
	// leader's own tasks do for it: refreshing its snapshots).
	FollowerOnly
)

func (r Role) String() string {
	switch r {
	case LeaderOnly:
		return "leader-only"
	case FollowerOnly:
		return "follower-only"
	}
	return "everywhere"
}

// Scheduler runs periodic tasks on gocron: one scheduler for the tasks of
// every process, and one under the elector for the leader's.
type Scheduler struct {
	s       gocron.Scheduler
	lead    gocron.Scheduler // LeaderOnly tasks: s itself without an elector
	elector Elector          // nil: this process always leads
	log     *slog.Logger
	clock   clockwork.Clock // the schedule's clock: a cron run's slot is read from it
	// leadersEvery are the periodic leader-only tasks, run at once when a
	// term begins: a new leader does not wait an interval for its first
	// watch tick.
	leadersEvery []string
	ranIn        map[string]context.Context // the term each leader-only task last ran in
	stopTerms    context.CancelFunc
	termsDone    chan struct{}

	mu    sync.Mutex
	jobs  map[string]gocron.Job
	state map[string]*taskState

	stopOnce sync.Once
	stopErr  error
}

// New returns a Scheduler that runs nothing until Start.
func New(o Options) (*Scheduler, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 30 * time.Second
	}
	opts := []gocron.SchedulerOption{
		gocron.WithLogger(o.Logger.With(slog.String("component", "scheduler"))),
		gocron.WithStopTimeout(o.StopTimeout),
		gocron.WithLocation(time.UTC),
	}
	clock := o.Clock
	if clock != nil {
		opts = append(opts, gocron.WithClock(clock))
	} else {
		clock = clockwork.NewRealClock()
	}
	s, err := gocron.NewScheduler(opts...)
	if err != nil {
		return nil, fmt.Errorf("scheduler: new: %w", err)
	}
	lead := s
	if o.Elector != nil {
		lead, err = gocron.NewScheduler(append(opts, gocron.WithDistributedElector(o.Elector))...)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("scheduler: new: %w", err), s.Shutdown())
		}
	}
	return &Scheduler{s: s, lead: lead, elector: o.Elector, log: o.Logger, clock: clock,
		jobs: map[string]gocron.Job{}, state: map[string]*taskState{}, ranIn: map[string]context.Context{}}, nil
}

// taskState is what RunNow knows of a task: whether a run is going, and
// whether one more was asked for meanwhile.
type taskState struct {
	running bool
	again   bool
	kicking bool // a Kick's RunNow is on its way
}

// Every registers task under a unique name, to run when the scheduler starts
// and then every interval. A run still going when the next is due makes that
// run skip.
func (s *Scheduler) Every(name string, interval time.Duration, task Task) error {
	return s.EveryAs(name, Everywhere, interval, task)
}

// EveryAs is Every for a task of the given role. A leader-only task also
// runs at once when this process becomes the leader.
func (s *Scheduler) EveryAs(name string, role Role, interval time.Duration, task Task) error {
	if interval <= 0 {
		return fmt.Errorf("scheduler: %s: interval must be positive, got %s", name, interval)
	}
	err := s.add(name, role, interval, gocron.DurationJob(interval), task, gocron.WithStartAt(gocron.WithStartImmediately()))
	if err == nil && role == LeaderOnly {
		s.mu.Lock()
		s.leadersEvery = append(s.leadersEvery, name)
		s.mu.Unlock()
	}
	return err
}

// onDemandInterval is the schedule of an on-demand task: never, in practice.
const onDemandInterval = 100 * 365 * 24 * time.Hour

// OnDemand registers task under a unique name, to run only when RunNow
// asks, one run at a time (a singleton like every task).
func (s *Scheduler) OnDemand(name string, task Task) error {
	return s.add(name, Everywhere, 0, gocron.DurationJob(onDemandInterval), task)
}

// add registers task; interval is its period, 0 for an on-demand task.
func (s *Scheduler) add(name string, role Role, interval time.Duration, def gocron.JobDefinition, task Task, opts ...gocron.JobOption) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[name]; dup {
		return fmt.Errorf("scheduler: %s: registered twice", name)
	}
	on := s.s
	switch role {
	case LeaderOnly:
		on, task = s.lead, s.underTerm(name, task)
	case FollowerOnly:
		if s.elector == nil {
			return nil // a process alone leads: its follower-only tasks never run
		}
		task = s.unlessLeading(task)
	}
	st := &taskState{}
	opts = append(opts, gocron.WithName(name), gocron.WithSingletonMode(gocron.LimitModeReschedule))
	j, err := on.NewJob(def, gocron.NewTask(s.wrap(name, interval, st, task)), opts...)
	if err != nil {
		return fmt.Errorf("scheduler: %s: %w", name, err)
	}
	s.jobs[name], s.state[name] = j, st
	return nil
}

// wrap runs task, once more when RunNow asked while it ran (what it was
// asked for may have come after the run read its input), and logs a
// failure (but not the one a stop causes) and a panic, which would
// otherwise take the process down from a scheduler goroutine.
func (s *Scheduler) wrap(name string, interval time.Duration, st *taskState, task Task) func(context.Context) {
	return func(ctx context.Context) {
		s.mu.Lock()
		st.running = true
		s.mu.Unlock()
		for {
			s.runOnce(ctx, name, interval, task)
			s.mu.Lock()
			again := st.again && ctx.Err() == nil
			st.again, st.running = false, again
			s.mu.Unlock()
			if !again {
				return
			}
		}
	}
}

// runOnce runs task once and logs what deserves a line: a panic, a
// failure, or a run that outlasted its interval (its next runs were
// skipped). A run that went as expected logs nothing, even at DEBUG: the
// delivery and outbox tasks run every second, and a line per run would
// bury everything else.
func (s *Scheduler) runOnce(ctx context.Context, name string, interval time.Duration, task Task) {
	start := time.Now()
	err := Recovered(ctx, task)
	took := time.Since(start)
	var pe *panicError
	switch {
	case errors.As(err, &pe):
		s.log.LogAttrs(ctx, slog.LevelError, "scheduled task panicked",
			slog.String("task", name), slog.Any("panic", pe.value))
	case err != nil && ctx.Err() == nil:
		s.log.LogAttrs(ctx, slog.LevelWarn, "scheduled task failed", slog.String("task", name),
			slog.Duration("took", took), slog.Any("error", err))
	case err == nil && interval > 0 && took >= interval:
		s.log.LogAttrs(ctx, slog.LevelDebug, "scheduled task outlasted its interval; the runs due meanwhile were skipped",
			slog.String("task", name), slog.Duration("took", took), slog.Duration("interval", interval))
	}
}

// RunNow runs the named task at once. When it is running already, it runs
// once more right after (however often RunNow is called meanwhile), so
// that what the caller wrote before asking is never left for the next
// interval. It is how work that cannot wait for the next tick asks for one
// sooner: events a tick wrote, an early marketplace refresh.
func (s *Scheduler) RunNow(name string) error {
	s.mu.Lock()
	j, ok := s.jobs[name]
	st := s.state[name]
	if ok && st.running {
		st.again = true
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("scheduler: run %s: no such task", name)
	}
	if err := j.RunNow(); err != nil {
		return fmt.Errorf("scheduler: run %s: %w", name, err)
	}
	return nil
}

// Kick is RunNow for callers that must not wait (a request handler asking
// for an early refresh): it returns at once, and kicks while one is on its
// way add nothing. An unknown name is ignored.
func (s *Scheduler) Kick(name string) {
	s.mu.Lock()
	st, ok := s.state[name]
	switch {
	case !ok || st.kicking:
		s.mu.Unlock()
		return
	case st.running:
		st.again = true
		s.mu.Unlock()
		return
	}
	st.kicking = true
	s.mu.Unlock()
	go func() { // bounded: gocron answers or refuses a run request within about a second
		err := s.RunNow(name)
		s.mu.Lock()
		st.kicking = false
		s.mu.Unlock()
		if err != nil {
			s.log.LogAttrs(context.Background(), slog.LevelDebug, "scheduled task not kicked", slog.String("task", name), slog.Any("error", err))
		}
	}()
}

// underTerm runs a leader-only task under the current term: not at all
// when this process does not lead (gocron asked the elector a moment
// before, but leadership can end in between), and with a context that ends
// when the term does, so that a leader that lost the lock (a pause, a
// partition) stops its leader-only work as soon as it looks at its
// context.
func (s *Scheduler) underTerm(name string, task Task) Task {
	if s.elector == nil {
		return task
	}
	return func(ctx context.Context) error {
		term, ok := s.elector.Term()
		if !ok {
			return nil
		}
		s.mu.Lock()
		s.ranIn[name] = term
		s.mu.Unlock()
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		stop := context.AfterFunc(term, func() { cancel(errNotLeading) })
		defer stop()
		return task(termCtx{Context: ctx, term: term, cancel: cancel})
	}
}

// termCtx is a leader-only run's context. Its Done and Err look at the
// term first: a term that has ended (the leader's term checks its clocks
// on every look) cancels the run at once, so that a step taken after a
// pause sees the end before context.AfterFunc's goroutine has run.
// Contexts derived from it end when that goroutine runs.
type termCtx struct {
	context.Context
	term   context.Context
	cancel context.CancelCauseFunc
}

func (c termCtx) look() {
	if c.term.Err() != nil {
		c.cancel(errNotLeading)
	}
}

func (c termCtx) Done() <-chan struct{} { c.look(); return c.Context.Done() }
func (c termCtx) Err() error            { c.look(); return c.Context.Err() }

// unlessLeading runs a follower-only task only while this process does
// not lead.
func (s *Scheduler) unlessLeading(task Task) Task {
	return func(ctx context.Context) error {
		if _, leading := s.elector.Term(); leading {
			return nil
		}
		return task(ctx)
	}
}

// errNotLeading is the cause of a leader-only task's context that ended
// with the term.
var errNotLeading = errors.New("scheduler: leadership lost")

// Start starts running the registered tasks, and with an elector, runs the
// periodic leader-only tasks at once each time a term begins.
func (s *Scheduler) Start() {
	s.s.Start()
	if s.lead == s.s {
		return
	}
	s.lead.Start()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopTerms, s.termsDone = cancel, make(chan struct{})
	go s.followTerms(ctx)
}

// followTerms runs the periodic leader-only tasks once at the start of
// every term (the first is also their immediate start).
func (s *Scheduler) followTerms(ctx context.Context) {
	defer close(s.termsDone)
	for {
		term, err := s.elector.NextTerm(ctx)
		if err != nil {
			return
		}
		s.mu.Lock()
		names := append([]string(nil), s.leadersEvery...)
		s.mu.Unlock()
		for _, name := range names {
			s.mu.Lock()
			ran := s.ranIn[name] == term
			s.mu.Unlock()
			if !ran { // its immediate start may have run it in this term already
				s.Kick(name)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-term.Done():
		}
	}
}

// Stop ends every task's context, waits for running tasks to return (at
// most Options.StopTimeout) and stops the scheduler for good. Later calls
// return the first call's result.
func (s *Scheduler) Stop() error {
	s.stopOnce.Do(func() {
		if s.stopTerms != nil {
			s.stopTerms()
			<-s.termsDone
		}
		var errs []error
		if err := s.s.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("scheduler: stop: %w", err))
		}
		if s.lead != s.s {
			if err := s.lead.Shutdown(); err != nil {
				errs = append(errs, fmt.Errorf("scheduler: stop: %w", err))
			}
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// Recovered runs task and turns a panic in it into an error, so that one
// part of a task that panics does not stop the parts after it (the watch
// tick's my_orders half, which enforces TTLs, runs whatever its marketplace
// half did).
func Recovered(ctx context.Context, task Task) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{p}
		}
	}()
	return task(ctx)
}

// panicError is a panic Recovered turned into an error.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }
