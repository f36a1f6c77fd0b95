package commands

import (
	"context"
	"time"
)

// JobStore keeps the durable jobs (rent, cancel) and their leases: the
// workers claim, checkpoint and release them (jobs.go), requests read them
// (view.go, details.go).
type JobStore interface {
	// GetJob returns the job id; ErrNotFound when there is none.
	GetJob(ctx context.Context, id string) (Job, error)
	// JobByKey returns the job stored for an idempotency key; ErrNotFound
	// when there is none.
	JobByKey(ctx context.Context, key string) (Job, error)
	// ClaimJob leases the job to owner until `until` when it is unleased, its
	// lease expired, or owner already holds it; otherwise ErrLeased.
	ClaimJob(ctx context.Context, id, owner string, now, until time.Time) (Job, error)
	// RenewLease moves the end of owner's lease to until while owner still
	// holds it (an expired lease nobody else took counts); otherwise
	// ErrLeased (another worker took it, or it was released), or ErrNotFound.
	RenewLease(ctx context.Context, id, owner string, until time.Time) error
	// ReleaseJob drops owner's lease.
	ReleaseJob(ctx context.Context, id, owner string) error
	// ResumableJobs lists queued or running jobs whose lease is free or
	// expired at now, oldest first.
	ResumableJobs(ctx context.Context, now time.Time) ([]Job, error)
	// SaveJob writes u atomically; it fails with ErrLeased unless owner
	// holds the lease.
	SaveJob(ctx context.Context, owner string, u *JobUpdate) error
	// ExpireJobs cancels the jobs awaiting confirmation since before (their
	// last write; a rent's own fail-over may ask long after it was
	// created), and returns how many.
	ExpireJobs(ctx context.Context, before time.Time) (int, error)
}

// GuardStore makes the writes the guardrails gate (DESIGN §5): the job and
// the count it must pass are one write transaction, so that concurrent
// requests cannot together pass a cap that each passes alone.
type GuardStore interface {
	// CreateJobGuarded inserts j (ID, CreatedAt set by the caller or the
	// store) unless a job with the same IdempotencyKey exists: then it
	// returns that job and created=false, unchecked. Concurrent calls with
	// one key create exactly one job. For a new job the store counts Usage
	// for g (nothing when g is nil) and calls g.Check in the same write
	// transaction; its error aborts the insert and is returned as is (a
	// *CapError).
	CreateJobGuarded(ctx context.Context, j Job, g *Guard) (stored Job, created bool, err error)
	// ConfirmJobGuarded moves the rent job id from awaiting confirmation to
	// queued when g admits it, in one write transaction; a job awaiting since
	// before expiredBefore is cancelled instead (Error says the confirmation
	// expired). It returns the job as stored afterwards (in any other state
	// unchanged), g.Check's error as is, or ErrNotFound. rec, when set, is
	// written with the move to queued (and only then); ErrRepeated, nothing
	// written, when rec's request is recorded already.
	ConfirmJobGuarded(ctx context.Context, id string, g *Guard, expiredBefore time.Time, rec *RequestRecord) (Job, error)
	// GuardUsage counts what g asks for (Who, Exclude, Team, Budget) from
	// what is committed, and writes nothing: the caller decides with
	// g.Check. A check that must hold against concurrent writes is made
	// by CreateJobGuarded, ConfirmJobGuarded or SaveJob instead.
	GuardUsage(ctx context.Context, g Guard) (GuardUsage, error)
}
