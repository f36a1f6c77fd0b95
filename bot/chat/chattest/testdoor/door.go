// Package testdoor is a minimal front door over an in-memory chat
// platform: the third platform of the conformance suite (chattest), and
// the proof that a platform is one package plus one line of wiring. Its
// users type commands and press buttons through Type and Press; what they
// see is Shown. It drives itself for the suite (driver.go: Door is a
// chattest.Driver). Only tests import it.
package testdoor

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/bot/chat/chattest"
	"github.com/clorebot/clorebot/commands"
)

// Platform is the test door's platform: its users are "testdoor:<name>".
const Platform = "testdoor"

// AckWindow is how long after it was sent the platform accepts a
// command's acknowledgement.
const AckWindow = 3 * time.Second

// room is the one conversation of the platform: every reply target.
const room = "room"

// Door is the test platform's front door (chat.Door, commands.Notifier).
type Door struct {
	svc    chat.Service
	follow *chat.Follower
	seen   *chat.Seen
	wg     sync.WaitGroup
	mu     sync.Mutex
	msgs   []chattest.Message
}

// New builds the door over the command layer of d.
func New(d chat.Deps) *Door {
	door := &Door{svc: d.Service, seen: chat.NewSeen(time.Hour, 1024)}
	door.follow = chat.NewFollower(chat.FollowerOptions{Messenger: messenger{door}, MinGap: 10 * time.Millisecond, Logger: d.Logger})
	return door
}

// Build is New as a door constructor of the process (cmd/clorebot).
func Build(d chat.Deps) (chat.Door, error) { return New(d), nil }

// Platform implements chat.Door.
func (d *Door) Platform() string { return Platform }

// Run implements chat.Door: it edits job messages until ctx ends, then
// waits for the commands acknowledged.
func (d *Door) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() { defer close(done); _ = d.follow.Run(ctx) }()
	<-ctx.Done()
	d.wg.Wait()
	<-done
	return nil
}

// Type delivers text typed by user at sent, as delivery. A delivery seen
// before is acknowledged again and does nothing; one older than the
// acknowledgement window is refused by the platform: nothing runs.
func (d *Door) Type(ctx context.Context, user, text, delivery string, sent time.Time) {
	if !d.seen.First(delivery, time.Now()) || time.Since(sent) > AckWindow {
		return
	}
	o := chat.Origin{Platform: Platform, UserID: user, UserName: user, Channel: room, ReplyTarget: room}
	d.answer(ctx, user, chat.CommandRequest(o, text, delivery))
}

// Press delivers user's press of the button actionID on message msg.
func (d *Door) Press(ctx context.Context, user, msg, actionID, delivery string) {
	if !d.seen.First(delivery, time.Now()) {
		return
	}
	o := chat.Origin{Platform: Platform, UserID: user, UserName: user, Channel: room, ReplyTarget: room}
	d.answer(ctx, user, chat.ClickRequest(o, actionID, actionID, msg))
}

// answer acknowledges req at once or within the window, and shows the
// reply: a job's progress as its message, the rest to user alone unless
// it is public.
func (d *Door) answer(ctx context.Context, user string, req commands.Request) {
	a := chat.Respond(context.WithoutCancel(ctx), d.svc, req, AckWindow/2)
	if a.Now != nil {
		d.show(ctx, user, *a.Now)
		return
	}
	d.wg.Go(func() { d.show(context.WithoutCancel(ctx), user, <-a.Later) })
}

func (d *Door) show(ctx context.Context, user string, r commands.Reply) {
	if chat.Progress(r) {
		_, _ = d.Notify(ctx, commands.Target{Platform: Platform, User: Platform + ":" + user, ReplyTarget: room}, r)
		return
	}
	pub, private := chat.Split(r)
	to := user
	if !chat.ForRequester(r) {
		to = ""
	}
	d.post(to, pub)
	if private != nil {
		d.post(user, private)
	}
}

// Notify implements commands.Notifier: the private part to the requester
// alone, the public one as the job's message, updated in place.
func (d *Door) Notify(ctx context.Context, t commands.Target, r commands.Reply) (string, error) {
	pub, private := chat.Split(r)
	if private != nil {
		user := t.User[len(Platform)+1:]
		d.post(user, private)
	}
	return d.follow.Show(ctx, r.JobID, t.ReplyTarget, t.Ref, pub)
}

// Shown is what the platform's users see now.
func (d *Door) Shown() []chattest.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]chattest.Message(nil), d.msgs...)
}

// post shows v (a reply or its private part) to user alone, or to the room
// when user is "", and returns its id.
func (d *Door) post(user string, v any) string {
	b, _ := json.Marshal(v)
	d.mu.Lock()
	defer d.mu.Unlock()
	id := strconv.Itoa(len(d.msgs) + 1)
	d.msgs = append(d.msgs, chattest.Message{ID: id, To: user, Text: string(b)})
	return id
}

// messenger shows job messages in the room for chat.Follower.
type messenger struct{ d *Door }

func (m messenger) Post(_ context.Context, _ string, r commands.Reply) (string, error) {
	return m.d.post("", r), nil
}

func (m messenger) Edit(_ context.Context, ref string, r commands.Reply) error {
	b, _ := json.Marshal(r)
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	i, _ := strconv.Atoi(ref)
	m.d.msgs[i-1].Text, m.d.msgs[i-1].Edits = string(b), m.d.msgs[i-1].Edits+1
	return nil
}

var (
	_ chat.Door         = (*Door)(nil)
	_ commands.Notifier = (*Door)(nil)
)
