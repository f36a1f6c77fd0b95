package commands

import (
	"context"
	"time"
)

// IntakeStore writes everything one accepted request changes in one write
// transaction: a front door's dedup record, the job (guardrails checked in
// the same transaction), the audit row and the outbox events. storage.Store
// implements it; it may commit several callers' units together (group
// commit), each in a savepoint of its own, and answers each caller only after
// the commit that holds its unit.
type IntakeStore interface {
	// Intake runs u in a write transaction and returns once it is committed.
	// In order: when u.Dedup names a message id already recorded, nothing is
	// written and the result says so (replayed, reused or in flight). Else,
	// when u.Job is set and no job has its IdempotencyKey, u.Guard is counted
	// and checked (a refusal is an outcome, not an error: the job is not
	// inserted) and the job inserted; a job with that key is returned as is.
	// Then u.Finish decides, from the outcome, the audit row, the events and
	// the answer recorded under u.Dedup's ids, which are written with the
	// job. An error means nothing of u was written.
	Intake(ctx context.Context, u IntakeUnit) (IntakeResult, error)
}

// IntakeUnit is what one request writes atomically.
type IntakeUnit struct {
	// Dedup is the front door's record of the inbound message (webhook-id);
	// nil for front doors that key their requests by the job's idempotency
	// key only (chat, CLI).
	Dedup *DedupClaim
	// Job is inserted unless a job has its IdempotencyKey; nil: no job (a
	// refusal recorded under Dedup).
	Job *Job
	// Guard, when set, is checked before a new Job is inserted.
	Guard *Guard
	// Finish returns what is written with the outcome. The store calls it
	// inside the transaction, from its writer goroutine: it must be quick,
	// must not block and must not call the store. It may be called for an
	// attempt that is then rolled back (a batch runs again the careful way
	// when one of its units fails), and not called again when the message
	// turns out to be recorded already: only the writes of the attempt that
	// commits count, and what it keeps for its caller is meaningful only
	// when the result is DedupRecorded or DedupNone. Nil writes nothing more.
	Finish func(IntakeOutcome) IntakeWrites
}

// IntakeOutcome is what became of an IntakeUnit's job.
type IntakeOutcome struct {
	Job     Job  // as stored (a duplicate key: the first job); zero without Job
	Created bool // this unit inserted Job
	// Refused is Guard.Check's error (a *CapError), or a *QuoteTaken when
	// Guard.Quote's server was taken: Job was not inserted.
	Refused error
}

// IntakeWrites is what Finish adds to the transaction.
type IntakeWrites struct {
	Audit  *AuditEntry
	Events []Event
	// Status and Answer are recorded under the Dedup ids as their first
	// delivery's answer. A Status outside 100..499 records nothing: a
	// failure that is not the request's fault leaves the ids free for a
	// retry.
	Status int
	Answer []byte
}

// IntakeResult is an IntakeUnit's outcome and what became of its Dedup.
type IntakeResult struct {
	IntakeOutcome
	Dedup DedupResult
}

// DedupClaim is a front door's record of one inbound message (a signed
// webhook's webhook-id, and for the compatibility scheme a second id made
// of its timestamp or body), bound to the request's method, path and body.
type DedupClaim struct {
	Key  string   // the name of the key that signed the message
	IDs  []string // one or two message ids
	Hash []byte   // what the ids were sent with (method, path, body)
	// At is the front door's clock: the record's creation time.
	At time.Time
	// StaleBefore: a record still being processed (status 0, written by a
	// front door that claims before processing) claimed before it was left
	// by a process that died and is taken over.
	StaleBefore time.Time
	// Answer renders the reply as the front door answers it (HTTP status
	// and body). It is called inside the transaction (see IntakeUnit.Finish).
	Answer func(Reply) (status int, body []byte)
	// FromContent says the ids are derived from the request itself (its
	// route and body), not chosen by the caller: the same request sent
	// after its record was purged (the dedup window) finds the job it made
	// then. It is refused (RepeatedReply) instead of being answered with
	// that long-finished job as if it were queued.
	FromContent bool
}

// DedupState says what became of a DedupClaim.
type DedupState int

// Dedup states.
const (
	// DedupNone: nothing was recorded (no claim, or a temporary failure).
	DedupNone DedupState = iota
	// DedupRecorded: this delivery was the first; its answer is recorded.
	DedupRecorded
	// DedupReplayed: an earlier delivery's answer (DedupResult.Status,
	// Answer) was found; this one changed nothing.
	DedupReplayed
	// DedupReused: an id came before with another request (another body,
	// method or route); nothing was changed.
	DedupReused
	// DedupInFlight: the first delivery of an id is still being processed
	// by a front door that claims before processing; retry later.
	DedupInFlight
)

// DedupResult is the outcome of a DedupClaim, with the answer recorded (or
// found) under its ids.
type DedupResult struct {
	State  DedupState
	Status int
	Answer []byte
}

// CreatesJob reports whether the command becomes a job keyed by the
// request's idempotency key (rent, cancel): handling it twice creates one job
// and changes nothing else, so a front door may hand its dedup record to
// HandleOnce, which writes it in the job's transaction.
func (c Command) CreatesJob() bool {
	return c.Name == "rent" || c.Name == "cancel"
}

// HandleOnce is Handle for a request that carries its front door's dedup
// record: the record and the request's answer (claim.Answer of the reply) are
// written in the transaction that stores the job and its audit row, or, for a
// request refused before it became a job, in one transaction with the audit
// row. A duplicate of a recorded message changes nothing and gets the
// recorded answer (DedupReplayed); an id sent before with another request
// gets DedupReused. A temporary failure records nothing. Use it for commands
// whose CreatesJob is true: they are safe to handle before the record is
// written.
func (s *Service) HandleOnce(ctx context.Context, req Request, claim DedupClaim) (Reply, DedupResult) {
	return s.handle(ctx, req, &claim)
}

// intakeRecord is how Handle writes a request's trailing records: the audit
// row and, under a dedup claim, the answer; recorded reports whether they
// were written (or found) in the intake transaction.
type intakeRecord struct {
	claim    *DedupClaim
	command  string // the command as audited
	recorded bool
	result   DedupResult
	// repeated is set when the request was answered before (a keyed state
	// change redelivered): its audit row says nothing was done again.
	repeated bool
}

// auditEntry is the audit row of a handled command.
// A request made on behalf of another identity (exec --as) names both:
// the actor is the identity acted as, the channel says who acted.
func (s *Service) auditEntry(req Request, command string, r Reply, order *int64, price *float64) AuditEntry {
	detail := "job " + r.JobID
	if r.JobID == "" {
		detail = s.details.of(r.Text)
	}
	channel := req.Channel
	if req.Via != "" {
		channel += " (via " + req.Via + ")"
	}
	return AuditEntry{At: s.clock.Now(), Actor: req.User, Platform: req.Platform, Channel: channel,
		Command: command, Outcome: r.Status, OrderID: order, USDPerHour: price, Detail: detail}
}

// finishWith builds an IntakeUnit's Finish: reply turns the outcome into the
// reply, which is audited and, under a claim, rendered as the recorded
// answer. The reply is kept in *out for the caller. A refused job is audited
// without a price.
func (s *Service) finishWith(req Request, rec *intakeRecord, order *int64, price *float64, reply func(IntakeOutcome) Reply, out *Reply) func(IntakeOutcome) IntakeWrites {
	return func(o IntakeOutcome) IntakeWrites {
		r := reply(o)
		*out = r
		if o.Refused != nil {
			price = nil
		}
		e := s.auditEntry(req, rec.command, r, order, price)
		w := IntakeWrites{Audit: &e}
		if rec.claim != nil && rec.claim.Answer != nil && !r.Temporary {
			w.Status, w.Answer = rec.claim.Answer(r)
		}
		return w
	}
}

// recordRefusal writes the audit row of a request answered without a job
// and, under a dedup claim, its answer, in one transaction. It reports
// false when it wrote nothing (no claim, or a temporary failure: the caller
// audits as usual).
func (s *Service) recordRefusal(ctx context.Context, req Request, command string, rec *intakeRecord, r *Reply, order *int64, price *float64) bool {
	if rec == nil || rec.claim == nil || r.Temporary {
		return false
	}
	e := s.auditEntry(req, command, *r, order, price)
	status, answer := 0, []byte(nil)
	if rec.claim.Answer != nil {
		status, answer = rec.claim.Answer(*r)
	}
	res, err := s.store.Intake(ctx, IntakeUnit{Dedup: rec.claim, Finish: func(IntakeOutcome) IntakeWrites {
		return IntakeWrites{Audit: &e, Status: status, Answer: answer}
	}})
	if err != nil {
		*r = s.fail(ctx, "recording the request", err)
		return false
	}
	rec.recorded, rec.result = true, res.Dedup
	return true
}
