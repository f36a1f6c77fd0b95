package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// Messenger posts and edits the public message of a job on one platform.
type Messenger interface {
	// Post sends r as a new message to the conversation dest (a Request's
	// ReplyTarget) and returns the message's reference.
	Post(ctx context.Context, dest string, r commands.Reply) (ref string, err error)
	// Edit replaces the message ref with r.
	Edit(ctx context.Context, ref string, r commands.Reply) error
}

// JobRefs finds the message a job's progress is shown in, as stored with
// the job; *commands.Service implements it. The Follower's memory of
// messages does not survive a restart; this does.
type JobRefs interface {
	JobReplyRef(ctx context.Context, jobID string) (string, error)
}

// FollowerOptions configures a Follower.
type FollowerOptions struct {
	Messenger Messenger
	// MinGap spaces two edits of one message (default 1 s): updates that
	// come faster are coalesced, the latest wins.
	MinGap time.Duration
	// Forget drops what is known of a job's message this long after its last
	// update (default 1 h); a job's stored reply reference still finds it.
	Forget time.Duration
	// Drain bounds how long Run goes on sending the edits queued when its
	// ctx ends (default 5 s), so that a job's last state reaches its
	// message across a graceful stop.
	Drain  time.Duration
	Logger *slog.Logger
}

// Follower shows each job's progress as one message: the first reply posts
// it, later ones edit it in place. Edits of one message are sent one at a
// time, at most one per MinGap, and a burst collapses into its latest
// reply; the final state is always sent. Run owns the goroutines that send
// edits.
//
// No lock is held across a Messenger call (a platform's Web API, which
// may sit out a rate limit for seconds): a job's state is changed under its
// lock, the call is made outside it. While a job's first message is being
// posted, its later replies are coalesced and become an edit once the post
// returns; other jobs, and the cleanup of old entries, never wait for it.
type Follower struct {
	o       FollowerOptions
	mu      sync.Mutex
	jobs    map[string]*followed
	work    chan *followed
	stopMu  sync.RWMutex // held to set stopped, read-held to queue work
	stopped bool         // Run has returned: nobody reads work
}

// followed is one job's message. mu guards the fields and is never held
// across a Messenger call.
type followed struct {
	mu      sync.Mutex
	ref     string
	posting bool // a Post of the first message is under way
	pending *commands.Reply
	sending bool // an edit is queued or being sent
	lastAt  time.Time
	usedAt  time.Time
	jobID   string
}

// NewFollower returns a Follower; call Run to send edits.
func NewFollower(o FollowerOptions) *Follower {
	if o.MinGap <= 0 {
		o.MinGap = time.Second
	}
	if o.Forget <= 0 {
		o.Forget = time.Hour
	}
	if o.Drain <= 0 {
		o.Drain = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Follower{o: o, jobs: map[string]*followed{}, work: make(chan *followed, 256)}
}

// ErrNoMessage is returned by Start when the job has a message already
// (or one is being posted).
var ErrNoMessage = errors.New("chat: the job has a message already")

func (f *Follower) entry(jobID string) *followed {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.jobs) > 1024 {
		f.prune()
	}
	e := f.jobs[jobID]
	if e == nil {
		e = &followed{jobID: jobID}
		f.jobs[jobID] = e
	}
	return e
}

// prune forgets jobs unused for Forget; called with f.mu held. An entry
// busy (posting, with an edit to send, or locked this instant) is left for
// the next time: prune never waits.
func (f *Follower) prune() {
	now := time.Now()
	for id, e := range f.jobs {
		if !e.mu.TryLock() {
			continue
		}
		old := now.Sub(e.usedAt) > f.o.Forget && !e.sending && !e.posting && e.pending == nil
		e.mu.Unlock()
		if old {
			delete(f.jobs, id)
		}
	}
}

// Len is how many jobs' messages are known.
func (f *Follower) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.jobs)
}

// touch records a use of e and a reference known from elsewhere; called
// with e.mu held.
func (e *followed) touch(known string) {
	e.usedAt = time.Now()
	if e.ref == "" && known != "" {
		e.ref = known
	}
}

// Start posts r as the job's message unless the job has one or one is
// being posted (then it returns the known reference, possibly "", and
// ErrNoMessage, and changes nothing): a redelivered command, whose reply is
// the job's first progress again, never posts a second message or sets the
// message back.
func (f *Follower) Start(ctx context.Context, jobID, dest, known string, r commands.Reply) (string, error) {
	e := f.entry(jobID)
	e.mu.Lock()
	e.touch(known)
	if e.ref != "" || e.posting {
		defer e.mu.Unlock()
		return e.ref, ErrNoMessage
	}
	e.posting = true
	e.mu.Unlock()
	return f.post(ctx, e, dest, r)
}

// Adopt makes the existing message ref the job's message and edits it to r
// (a click that starts a job takes over the message its button was on).
// When the job has a message already it changes nothing and returns
// ErrNoMessage: a second click acts once.
func (f *Follower) Adopt(ctx context.Context, jobID, ref string, r commands.Reply) (string, error) {
	e := f.entry(jobID)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.touch("")
	if e.ref != "" || e.posting {
		return e.ref, ErrNoMessage
	}
	e.ref = ref
	f.queue(ctx, e, r)
	return ref, nil
}

// Show makes r the job's message: it posts it when the job has none yet,
// else queues an edit and returns at once. While the first message is being
// posted, r waits to become its first edit (and Show returns "" at once).
// known is a reference stored with the job, or the message a click came
// from ("" when none).
func (f *Follower) Show(ctx context.Context, jobID, dest, known string, r commands.Reply) (string, error) {
	e := f.entry(jobID)
	e.mu.Lock()
	e.touch(known)
	switch {
	case e.ref != "":
		defer e.mu.Unlock()
		f.queue(ctx, e, r)
		return e.ref, nil
	case e.posting:
		defer e.mu.Unlock()
		e.pending = &r
		return "", nil
	}
	e.posting = true
	e.mu.Unlock()
	return f.post(ctx, e, dest, r)
}

// queue makes r e's next edit; called with e.mu held.
func (f *Follower) queue(ctx context.Context, e *followed, r commands.Reply) {
	e.pending = &r
	f.kick(ctx, e)
}

// kick hands e to the edit senders unless an edit of e is under way;
// called with e.mu held and e.pending set. After Run has returned, or
// when the queue is full, the edit is sent from a goroutine of its own
// (bounded by Drain) rather than dropped.
func (f *Follower) kick(ctx context.Context, e *followed) {
	if e.sending {
		return
	}
	e.sending = true
	f.stopMu.RLock()
	queued := false
	if !f.stopped {
		select {
		case f.work <- e:
			queued = true
		default:
		}
	}
	f.stopMu.RUnlock()
	if queued {
		return
	}
	go func() {
		c, cancel := Detach(ctx, f.o.Drain)
		defer cancel()
		f.flush(c, e)
	}()
}

// post sends the job's first message, e.posting set by the caller, with no
// lock held. Replies that came meanwhile become an edit; if the post
// failed, the latest of them is posted instead (once), so that the job's
// last state is not lost with the failed post.
func (f *Follower) post(ctx context.Context, e *followed, dest string, r commands.Reply) (string, error) {
	for attempt := 0; ; attempt++ {
		ref, err := f.o.Messenger.Post(ctx, dest, r)
		e.mu.Lock()
		if err == nil {
			e.posting, e.ref, e.lastAt, e.usedAt = false, ref, time.Now(), time.Now()
			if e.pending != nil {
				f.kick(ctx, e)
			}
			e.mu.Unlock()
			return ref, nil
		}
		if e.pending == nil || attempt > 0 || ctx.Err() != nil {
			e.posting, e.pending = false, nil
			e.mu.Unlock()
			return "", fmt.Errorf("chat: post progress of job %s: %w", e.jobID, err)
		}
		r, e.pending = *e.pending, nil
		e.mu.Unlock()
	}
}

// Run sends queued edits until ctx ends, then drains: it goes on sending
// the edits queued, and those queued meanwhile, for at most Drain, and
// returns when none is left. An edit queued after Run returned is sent from
// a goroutine of its own, which nobody waits for.
func (f *Follower) Run(ctx context.Context) error {
	send, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	finished := make(chan struct{})
	running := 0
	start := func(e *followed) {
		running++
		go func() {
			defer func() { finished <- struct{}{} }()
			f.flush(send, e)
		}()
	}
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case e := <-f.work:
			start(e)
		case <-finished:
			running--
		}
	}
	t := time.AfterFunc(f.o.Drain, cancel)
	defer t.Stop()
	for {
		if running == 0 {
			select {
			case e := <-f.work:
				start(e)
				continue
			default:
			}
			f.stop(ctx)
			return nil
		}
		select {
		case e := <-f.work:
			start(e)
		case <-finished:
			running--
		}
	}
}

// stop marks the Follower stopped; an edit queued meanwhile is sent from a
// goroutine of its own, as later ones will be.
func (f *Follower) stop(ctx context.Context) {
	f.stopMu.Lock()
	defer f.stopMu.Unlock()
	f.stopped = true
	for {
		select {
		case e := <-f.work:
			go func() {
				c, cancel := Detach(ctx, f.o.Drain)
				defer cancel()
				f.flush(c, e)
			}()
		default:
			return
		}
	}
}

// flush sends e's pending edits, one at a time, MinGap apart, until none is
// left.
func (f *Follower) flush(ctx context.Context, e *followed) {
	for {
		e.mu.Lock()
		r, ref := e.pending, e.ref
		wait := time.Until(e.lastAt.Add(f.o.MinGap))
		if r == nil {
			e.sending = false
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				e.mu.Lock()
				e.sending = false
				e.mu.Unlock()
				return
			}
		}
		e.mu.Lock()
		r, e.pending = e.pending, nil
		e.mu.Unlock()
		err := f.o.Messenger.Edit(ctx, ref, *r)
		e.mu.Lock()
		e.lastAt, e.usedAt = time.Now(), time.Now()
		e.mu.Unlock()
		if err != nil {
			f.o.Logger.LogAttrs(ctx, slog.LevelWarn, "job progress not updated", slog.String("job_id", e.jobID), slog.Any("error", err))
		}
	}
}
