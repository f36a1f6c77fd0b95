package chat

import (
	"context"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// Handler is the command layer as a chat front door uses it;
// *commands.Service implements it.
type Handler interface {
	Handle(ctx context.Context, req commands.Request) commands.Reply
}

// MemoryAnswerer is what a Handler may also implement: AnswerFromMemory
// answers req as Handle does when it answers it from memory alone (help,
// usage errors), and reports false, having done nothing, otherwise; a
// front door then answers it on the goroutine that reads its events, as
// a bot with canned answers would, rather than hand it to a worker. The
// command is judged and answered in one call: parsed once, and judged on
// the very Request that is answered. The Request may carry no ReplyTarget:
// an answer from memory goes in the acknowledgement, and stores nothing
// that would lead back to the conversation.
type MemoryAnswerer interface {
	AnswerFromMemory(ctx context.Context, req commands.Request) (commands.Reply, bool)
}

// Answer is the outcome of Respond: Now is the reply to put in the
// acknowledgement, when it came in time and belongs there; otherwise Later
// delivers the reply once the command layer has it.
type Answer struct {
	Now   *commands.Reply
	Later <-chan commands.Reply
}

// Respond hands req to h and waits for its reply at most budget, so that
// the platform's acknowledgement deadline is met whatever the command layer
// is doing (waiting on Clore, on storage). A reply that is a job's first
// progress (Progress) never goes in the acknowledgement: it is returned in
// Later, for the front door to post as the job's own message. Well-formed
// commands that become jobs (BecomesJob) get no budget: they are
// acknowledged at once.
//
// Handle runs under ctx, which must outlive the acknowledgement and a
// shutdown that starts after it (Detach of the front door's lifetime, not
// the request's context); its reply is always sent on Later when Now is
// nil.
func Respond(ctx context.Context, h Handler, req commands.Request, budget time.Duration) Answer {
	if AckAtOnce(req) {
		budget = 0
	}
	return RespondWithin(ctx, h, req, budget)
}

// RespondWithin is Respond with budget whatever the command: for a job
// command the front door knows is refused (commands.Service.Permits), whose
// answer is the refusal, not a job.
func RespondWithin(ctx context.Context, h Handler, req commands.Request, budget time.Duration) Answer {
	ch := make(chan commands.Reply, 1)
	go func() { ch <- h.Handle(ctx, req) }()
	if budget > 0 {
		t := time.NewTimer(budget)
		defer t.Stop()
		select {
		case r := <-ch:
			if Progress(r) {
				done := make(chan commands.Reply, 1)
				done <- r
				return Answer{Later: done}
			}
			return Answer{Now: &r}
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return Answer{Later: ch}
}

// AckAtOnce reports whether req is a well-formed command that becomes a job
// (BecomesJob): it is acknowledged empty at once, before the command layer
// sees it, and its answer comes later. A usage error is not: it is
// answered in the acknowledgement. It reads the parse req carries.
func AckAtOnce(req commands.Request) bool {
	if req.Action != nil {
		return false
	}
	cmd, err := req.Parsed()
	return err == nil && commands.BecomesJob(cmd.Name)
}

// Progress reports whether r is a job's progress for the channel: the
// message that the job updates in place until it is done.
func Progress(r commands.Reply) bool {
	return r.JobID != "" && r.Visibility == commands.Public
}

// Split separates what others may see from what only the requester may:
// public is r without its private part; private is nil when there is none.
func Split(r commands.Reply) (public commands.Reply, private *commands.PrivatePart) {
	return r.Public(), r.Private
}

// ForRequester reports whether r is shown to the requester only
// (ephemeral or private), never in the channel.
func ForRequester(r commands.Reply) bool { return r.Visibility != commands.Public }
