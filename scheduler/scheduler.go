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
}

// Scheduler runs periodic tasks on one gocron scheduler.
type Scheduler struct {
	s     gocron.Scheduler
	log   *slog.Logger
	clock clockwork.Clock // the schedule's clock: a cron run's slot is read from it

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
	return &Scheduler{s: s, log: o.Logger, clock: clock, jobs: map[string]gocron.Job{}, state: map[string]*taskState{}}, nil
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
	if interval <= 0 {
		return fmt.Errorf("scheduler: %s: interval must be positive, got %s", name, interval)
	}
	return s.add(name, interval, gocron.DurationJob(interval), task, gocron.WithStartAt(gocron.WithStartImmediately()))
}

// onDemandInterval is the schedule of an on-demand task: never, in practice.
const onDemandInterval = 100 * 365 * 24 * time.Hour

// OnDemand registers task under a unique name, to run only when RunNow
// asks, one run at a time (a singleton like every task).
func (s *Scheduler) OnDemand(name string, task Task) error {
	return s.add(name, 0, gocron.DurationJob(onDemandInterval), task)
}

// add registers task; interval is its period, 0 for an on-demand task.
func (s *Scheduler) add(name string, interval time.Duration, def gocron.JobDefinition, task Task, opts ...gocron.JobOption) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[name]; dup {
		return fmt.Errorf("scheduler: %s: registered twice", name)
	}
	st := &taskState{}
	opts = append(opts, gocron.WithName(name), gocron.WithSingletonMode(gocron.LimitModeReschedule))
	j, err := s.s.NewJob(def, gocron.NewTask(s.wrap(name, interval, st, task)), opts...)
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

// Start starts running the registered tasks.
func (s *Scheduler) Start() { s.s.Start() }

// Stop ends every task's context, waits for running tasks to return (at
// most Options.StopTimeout) and stops the scheduler for good. Later calls
// return the first call's result.
func (s *Scheduler) Stop() error {
	s.stopOnce.Do(func() {
		if err := s.s.Shutdown(); err != nil {
			s.stopErr = fmt.Errorf("scheduler: stop: %w", err)
		}
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
