package commands_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
)

// privateReplies counts the replies that carried connection details.
func privateReplies(r *recorder) int {
	n := 0
	for _, reply := range r.all() {
		if reply.Private != nil {
			n++
		}
	}
	return n
}

// A provisioning wait far longer than the lease writes no checkpoint, yet
// keeps its lease: a second worker sweeping all along never takes the job.
func TestLongProvisioningKeepsItsLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *sandbox.Options) { o.ProvisionDelay = 3 * time.Second })
	short := func(o *commands.Options) {
		o.Lease, o.PollInterval = time.Second, 100*time.Millisecond
	}
	first := h.service(short, func(o *commands.Options) { o.WorkerID = "worker-1" })
	other := &recorder{}
	second := h.service(short, func(o *commands.Options) { o.WorkerID = "worker-2"; o.Notifier = other })
	r := first.Handle(context.Background(), req("slack:ALICE", "rent 3090"))
	if r.JobID == "" {
		t.Fatalf("rent = %+v", r)
	}
	type result struct {
		job commands.Job
		err error
	}
	res := make(chan result, 1)
	go func() {
		job, err := first.RunJob(context.Background(), r.JobID)
		res <- result{job, err}
	}()
	waitFor(t, 20*time.Second, func() bool {
		j, _ := h.store.GetJob(context.Background(), r.JobID)
		return j.Step == "provisioning"
	})
	// From now on a second worker sweeps every 20 ms for a lapsed lease.
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); runWithSweep(ctx, second, 20*time.Millisecond) }()
	defer func() { stop(); <-done }()
	got := <-res
	if job, err := got.job, got.err; err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("first run = %+v, %v", job, err)
	}
	if got := other.all(); len(got) != 0 {
		t.Fatalf("the second worker ran the job: %+v", got)
	}
	if n := privateReplies(h.replies); n != 1 {
		t.Fatalf("connection details sent %d times, want once", n)
	}
	if orders := h.cloreOrders(t); len(orders) != 1 {
		t.Fatalf("%d orders, want 1", len(orders))
	}
}

// A run whose lease another worker took (the process stalled longer than
// the lease) stops at its next heartbeat and sends nothing; the worker that
// holds the lease finishes the job: one order, connection details once.
func TestRunThatLosesItsLeaseStops(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *sandbox.Options) { o.ProvisionDelay = 3 * time.Second })
	short := func(o *commands.Options) { o.Lease, o.PollInterval = time.Second, 50*time.Millisecond }
	first := h.service(short, func(o *commands.Options) { o.WorkerID = "worker-1" })
	r := first.Handle(context.Background(), req("slack:ALICE", "rent 3090"))
	type result struct {
		job commands.Job
		err error
	}
	res := make(chan result, 1)
	go func() {
		job, err := first.RunJob(context.Background(), r.JobID)
		res <- result{job, err}
	}()
	waitFor(t, 20*time.Second, func() bool {
		j, _ := h.store.GetJob(context.Background(), r.JobID)
		return j.Step == "provisioning"
	})
	// Another process, whose clock says the lease has lapsed, takes the job.
	now := time.Now().Add(time.Hour)
	if _, err := h.store.ClaimJob(context.Background(), r.JobID, "intruder", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var got result
	select {
	case got = <-res:
	case <-time.After(10 * time.Second):
		t.Fatal("the run that lost its lease did not stop")
	}
	if !errors.Is(got.err, commands.ErrLeased) || commands.Terminal(got.job.State) {
		t.Fatalf("run after losing its lease = %+v, %v; want stopped with ErrLeased", got.job, got.err)
	}
	if n := privateReplies(h.replies); n != 0 {
		t.Fatalf("a run without its lease sent connection details %d times", n)
	}
	if err := h.store.ReleaseJob(context.Background(), r.JobID, "intruder"); err != nil {
		t.Fatal(err)
	}
	second := h.service(func(o *commands.Options) { o.WorkerID = "worker-2" })
	if job, err := second.RunJob(context.Background(), r.JobID); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("second run = %+v, %v", job, err)
	}
	if n := privateReplies(h.replies); n != 1 {
		t.Fatalf("connection details sent %d times, want once", n)
	}
	if orders := h.cloreOrders(t); len(orders) != 1 {
		t.Fatalf("%d orders, want 1", len(orders))
	}
}

// Graceful shutdown (the run's context ends) releases the lease at once, so
// that the next start resumes the job without waiting for it to lapse.
func TestShutdownReleasesTheLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *sandbox.Options) { o.ProvisionDelay = time.Hour })
	svc := h.service()
	r := svc.Handle(context.Background(), req("slack:ALICE", "rent 3090"))
	ctx, shutdown := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := svc.RunJob(ctx, r.JobID); done <- err }()
	waitFor(t, 20*time.Second, func() bool {
		j, _ := h.store.GetJob(context.Background(), r.JobID)
		return j.Step == "provisioning"
	})
	shutdown()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run after shutdown = %v", err)
	}
	if !resumable(t, h, time.Now(), r.JobID) {
		j, _ := h.store.GetJob(context.Background(), r.JobID)
		t.Fatalf("lease kept after a graceful shutdown: %q until %s", j.LeaseOwner, j.LeaseUntil)
	}
}
