package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// errStopped ends a job run without a terminal state (the crash hook): the
// job resumes later from its last checkpoint, once its lease lapses.
var errStopped = errors.New("commands: job run stopped")

// errLeaseLost is the cause that stops a run whose heartbeat found that the
// lease is no longer its own.
var errLeaseLost = errors.New("commands: job lease lost")

// enqueue hands a job to the running workers, if any; jobs nobody picks up
// are found by the next Sweep (which the process's scheduler runs) or run
// by the caller (clorebot exec).
func (s *Service) enqueue(id string) {
	select {
	case s.kick <- id:
	default:
	}
}

// Run executes queued jobs until ctx ends: the jobs handed over by Handle
// and by Sweep, Options.Workers at a time. It has no timer of its own: the
// process's scheduler (package scheduler) runs Sweep, for the jobs a
// crashed or stopped worker left behind, and the early marketplace
// refreshes that requests ask for (Options.EarlyRefresh).
func (s *Service) Run(ctx context.Context) error {
	if s.audits.start() {
		defer s.audits.stop() // last: what the workers audit is written too
	}
	var wg sync.WaitGroup
	ids := make(chan string)
	for range s.o.Workers {
		wg.Go(func() {
			for id := range ids {
				if _, err := s.RunJob(ctx, id); err != nil && !errors.Is(err, ErrLeased) && ctx.Err() == nil {
					s.log.LogAttrs(ctx, slog.LevelError, "job failed to run", slog.String("job_id", id), slog.Any("error", err))
				}
			}
		})
	}
	defer func() {
		close(ids)
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case id := <-s.kick:
			select {
			case ids <- id:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// Sweep expires the rents whose confirmation ran out and hands the jobs
// whose lease lapsed (a crashed or stopped worker's) to Run's workers. The
// process's scheduler runs it every scheduler.SweepTick; a job it cannot
// hand over now (the workers are busy) is found by the next sweep.
func (s *Service) Sweep(ctx context.Context) error {
	var errs []error
	if n, err := s.store.ExpireJobs(ctx, s.clock.Now().Add(-s.o.ConfirmTTL)); err != nil {
		errs = append(errs, fmt.Errorf("commands: sweep: expiring unconfirmed rents: %w", err))
	} else if n > 0 {
		s.log.LogAttrs(ctx, slog.LevelInfo, "unconfirmed rents expired", slog.Int("jobs", n))
	}
	jobs, err := s.store.ResumableJobs(ctx, s.clock.Now())
	if err != nil {
		errs = append(errs, fmt.Errorf("commands: sweep: listing resumable jobs: %w", err))
	}
	for _, j := range jobs {
		s.enqueue(j.ID)
	}
	return errors.Join(errs...)
}

// RunJob runs one job to a terminal state, resuming from its checkpoint. It
// returns ErrLeased when another worker runs it. While it runs, a heartbeat
// renews its lease; a run that loses its lease stops (its error wraps
// ErrLeased) before it writes or sends anything more.
func (s *Service) RunJob(ctx context.Context, id string) (Job, error) {
	// Each run has its own lease owner, so that two goroutines of one process
	// never run the same job either.
	owner := s.o.WorkerID + "/" + randomID(4)
	now := s.clock.Now()
	job, err := s.store.ClaimJob(ctx, id, owner, now, now.Add(s.o.Lease))
	if err != nil {
		return job, err
	}
	runCtx, stop := context.WithCancelCause(ctx)
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		s.heartbeat(runCtx, stop, id, owner, now.Add(s.o.Lease))
	}()
	r := &run{s: s, job: job, owner: owner}
	job, err = r.loop(runCtx)
	stop(nil)
	<-beat
	if cause := context.Cause(runCtx); errors.Is(cause, errLeaseLost) && err != nil {
		err = cause // stopped because the lease was lost, whatever the step said
	}
	if errors.Is(err, ErrLeased) {
		// What this run had in hand was not stored: report what was.
		if stored, gerr := s.store.GetJob(context.WithoutCancel(ctx), id); gerr == nil {
			job = stored
		}
	}
	if errors.Is(err, errStopped) {
		return job, err // as kill -9: the lease lapses on its own
	}
	if err := s.store.ReleaseJob(context.WithoutCancel(ctx), id, owner); err != nil && !errors.Is(err, ErrLeased) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "releasing job", slog.String("job_id", id), slog.Any("error", err))
	}
	return job, err
}

// loop runs the job's steps until it ends, awaits confirmation or ctx ends.
func (r *run) loop(ctx context.Context) (Job, error) {
	for !terminal(r.job.State) {
		if r.job.State == JobAwaitingConfirmation {
			return r.job, nil
		}
		if err := ctx.Err(); err != nil {
			return r.job, err
		}
		var err error
		switch r.job.Kind {
		case JobRent:
			err = r.rentStep(ctx)
		case JobCancel:
			err = r.cancelStep(ctx)
		default:
			err = r.fail(ctx, "unknown job kind "+r.job.Kind, nil)
		}
		if err != nil {
			return r.job, err
		}
	}
	return r.job, nil
}

// heartbeat renews the run's lease every Lease/4 until ctx ends,
// independently of checkpoints (a provisioning wait writes none for
// minutes). When the lease is no longer the run's (another worker took it
// after a pause longer than the lease), or it could not be renewed before it
// ran out, it stops the run with errLeaseLost.
func (s *Service) heartbeat(ctx context.Context, lost context.CancelCauseFunc, id, owner string, until time.Time) {
	t := time.NewTicker(s.o.Lease / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.clock.Now()
		err := s.store.RenewLease(ctx, id, owner, now.Add(s.o.Lease))
		switch {
		case err == nil:
			until = now.Add(s.o.Lease)
			continue
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrLeased) || errors.Is(err, ErrNotFound) || !now.Before(until):
			s.log.LogAttrs(ctx, slog.LevelWarn, "job lease lost; stopping the run", slog.String("job_id", id), slog.Any("error", err))
			lost(fmt.Errorf("%w: %w", errLeaseLost, ErrLeased))
			return
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "renewing a job lease failed; retrying", slog.String("job_id", id), slog.Any("error", err))
	}
}

// Job returns a job's current state, for callers that follow a job another
// worker runs.
func (s *Service) Job(ctx context.Context, id string) (Job, error) { return s.store.GetJob(ctx, id) }

// Terminal reports whether a job state is final.
func Terminal(state string) bool { return terminal(state) }

func terminal(state string) bool {
	return state == JobSucceeded || state == JobFailed || state == JobCancelled
}

// run is one execution of a job by this worker.
type run struct {
	s     *Service
	job   Job
	owner string // lease owner
	// fresh is set once this run wrote a checkpoint itself: a step that finds
	// its own checkpoint need not reconcile with Clore; a resumed one must.
	fresh bool
	guard *Guard // checked by the next save, in its transaction (checkpointGuarded)
	// attempt, settle, hold and took go with the next save (JobUpdate's
	// fields of those names).
	attempt *RentAttempt
	settle  int64
	hold    *ServerClaim
	took    Took
}

// save writes the job's progress with its events and order in one
// transaction, only while the run holds the lease (the heartbeat keeps it),
// then runs the crash hook.
func (r *run) save(ctx context.Context, order *Order, events ...Event) error {
	r.job.UpdatedAt = r.s.clock.Now()
	u := &JobUpdate{Job: r.job, Events: events, Order: order, Guard: r.guard, Attempt: r.attempt, Settle: r.settle,
		Hold: r.hold, Took: r.took}
	r.attempt, r.settle, r.hold, r.took = nil, 0, nil, TookNothing
	if err := r.s.store.SaveJob(ctx, r.owner, u); err != nil {
		return fmt.Errorf("commands: save job %s: %w", r.job.ID, err)
	}
	r.fresh = true
	if hook := r.s.o.AfterCheckpoint; hook != nil {
		if err := hook(r.job); err != nil {
			return fmt.Errorf("%w: %w", errStopped, err)
		}
	}
	return nil
}

// checkpoint stores v as the job's checkpoint and step.
func (r *run) checkpoint(ctx context.Context, step string, v any, order *Order, events ...Event) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("commands: encode checkpoint: %w", err)
	}
	if step != r.job.Step {
		r.job.Attempts = 0 // progress: the failures in a row start again
	}
	r.job.Step, r.job.Checkpoint = step, raw
	if r.job.State == JobQueued {
		r.job.State = JobRunning
	}
	return r.save(ctx, order, events...)
}

// checkpointGuarded is checkpoint with g checked in the same transaction;
// g's refusal (a *CapError) writes nothing.
func (r *run) checkpointGuarded(ctx context.Context, step string, v any, g *Guard) error {
	r.guard = g
	defer func() { r.guard = nil }()
	return r.checkpoint(ctx, step, v, nil)
}

// fail ends the job with a message for the user, the order's failure (if any)
// and the events.
func (r *run) fail(ctx context.Context, msg string, order *Order, events ...Event) error {
	r.job.State, r.job.Error = JobFailed, msg
	events = append(events, r.completed(order))
	if err := r.save(ctx, order, events...); err != nil {
		return err
	}
	r.notify(ctx, Reply{Status: StatusFailed, Text: msg, Visibility: Public, Done: true, JobID: r.job.ID})
	return nil
}

// event builds an order.* outbox event about the job's order o; d holds
// what the event type adds (reason, by, ...). Data never holds secrets.
func (r *run) event(typ string, o *Order, d OrderEvent) Event {
	return newEvent(typ, r.job.ID, o, d, r.s.clock.Now())
}

// completed is the job.completed event of the job as it stands (its state
// and error set), with its order o (nil when none): its data is the job's
// JobInfo.
func (r *run) completed(o *Order) Event {
	raw, _ := json.Marshal(NewJobInfo(r.job, o))
	var orderID *int64
	if o != nil {
		orderID = o.CloreOrderID
	}
	return Event{Type: "job.completed", JobID: r.job.ID, OrderID: orderID, Data: raw, CreatedAt: r.s.clock.Now()}
}

// newEvent builds an order.* outbox event about order o (nil: unknown) of
// job jobID ("" outside a job): d with its JobID and Order filled in. Data
// never holds secrets.
func newEvent(typ, jobID string, o *Order, d OrderEvent, now time.Time) Event {
	d.JobID = Nullable(jobID)
	var orderID *int64
	if o != nil {
		orderID = o.CloreOrderID
		d.Order = NewOrderInfo(*o)
	}
	raw, _ := json.Marshal(d)
	return Event{Type: typ, JobID: jobID, OrderID: orderID, Data: raw, CreatedAt: now}
}

// notify updates the reply that started the job; failures are logged only.
func (r *run) notify(ctx context.Context, reply Reply) {
	reply.JobID = r.job.ID
	if chatPlatform(r.job.Platform) {
		reply.RequestedBy = r.job.RequestedBy
	}
	t := Target{Platform: r.job.Platform, User: r.job.RequestedBy, ReplyTarget: r.job.ReplyTarget, Ref: r.job.ReplyRef}
	ref, err := r.s.notify.Notify(ctx, t, reply)
	if err != nil {
		r.s.log.LogAttrs(ctx, slog.LevelWarn, "job progress not delivered", slog.String("job_id", r.job.ID), slog.Any("error", err))
		return
	}
	if ref != "" {
		r.job.ReplyRef = ref
	}
}

// sleep waits d unless ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
