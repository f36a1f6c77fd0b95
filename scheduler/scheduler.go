package scheduler

import (
	"context"
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
	s   gocron.Scheduler
	log *slog.Logger

	mu   sync.Mutex
	jobs map[string]gocron.Job

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
	if o.Clock != nil {
		opts = append(opts, gocron.WithClock(o.Clock))
	}
	s, err := gocron.NewScheduler(opts...)
	if err != nil {
		return nil, fmt.Errorf("scheduler: new: %w", err)
	}
	return &Scheduler{s: s, log: o.Logger, jobs: map[string]gocron.Job{}}, nil
}

// Every registers task under a unique name, to run when the scheduler starts
// and then every interval. A run still going when the next is due makes that
// run skip.
func (s *Scheduler) Every(name string, interval time.Duration, task Task) error {
	if interval <= 0 {
		return fmt.Errorf("scheduler: %s: interval must be positive, got %s", name, interval)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[name]; dup {
		return fmt.Errorf("scheduler: %s: registered twice", name)
	}
	j, err := s.s.NewJob(gocron.DurationJob(interval),
		gocron.NewTask(s.wrap(name, task)),
		gocron.WithName(name),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithStartAt(gocron.WithStartImmediately()),
	)
	if err != nil {
		return fmt.Errorf("scheduler: %s: %w", name, err)
	}
	s.jobs[name] = j
	return nil
}

// wrap logs a task's failure (but not the one a stop causes) and a panic,
// which would otherwise take the process down from a scheduler goroutine.
func (s *Scheduler) wrap(name string, task Task) func(context.Context) {
	return func(ctx context.Context) {
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				s.log.LogAttrs(ctx, slog.LevelError, "scheduled task panicked",
					slog.String("task", name), slog.Any("panic", p))
			}
		}()
		err := task(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.LogAttrs(ctx, slog.LevelWarn, "scheduled task failed", slog.String("task", name),
				slog.Duration("took", time.Since(start)), slog.Any("error", err))
		case err == nil:
			s.log.LogAttrs(ctx, slog.LevelDebug, "scheduled task ran", slog.String("task", name),
				slog.Duration("took", time.Since(start)))
		}
	}
}

// RunNow runs the named task at once, unless it is running already (then
// the running one serves). It is how work that cannot wait for the next
// tick (a rent that provisions) asks for one sooner.
func (s *Scheduler) RunNow(name string) error {
	s.mu.Lock()
	j, ok := s.jobs[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("scheduler: run %s: no such task", name)
	}
	if running, err := j.IsRunning(); err == nil && running {
		return nil
	}
	if err := j.RunNow(); err != nil {
		return fmt.Errorf("scheduler: run %s: %w", name, err)
	}
	return nil
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
