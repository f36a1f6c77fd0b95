package discordbot

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// responder sends an interaction's first answer: a REST callback for the
// gateway (with opts), the HTTP response for HTTP interactions. It is
// called once.
type responder func(ctx context.Context, resp *discordgo.InteractionResponse, opts ...discordgo.RequestOption) error

// handleTimeout bounds one command's work in the command layer.
const handleTimeout = 30 * time.Second

// handle answers one interaction, whichever way it came.
func (b *Bot) handle(ctx context.Context, i *discordgo.Interaction, respond responder) {
	defer func() {
		// One malformed interaction must not take the process down.
		if p := recover(); p != nil {
			b.log.LogAttrs(ctx, slog.LevelError, "discord interaction handler panicked",
				slog.String("interaction_id", i.ID), slog.Any("panic", p))
		}
	}()
	if !wellFormed(i) {
		b.log.LogAttrs(ctx, slog.LevelWarn, "discord interaction without its data", slog.String("interaction_id", i.ID),
			slog.Int("type", int(i.Type)))
		return
	}
	if i.Type != discordgo.InteractionPing {
		if r := b.outside(i); r != nil {
			b.refuseOutside(ctx, i, respond, *r)
			return
		}
	}
	switch i.Type {
	case discordgo.InteractionPing:
		b.report(ctx, i, "pong", respond(ctx, &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong}))
	case discordgo.InteractionApplicationCommand:
		b.onCommand(ctx, i, respond)
	case discordgo.InteractionApplicationCommandAutocomplete:
		b.onAutocomplete(ctx, i, respond)
	case discordgo.InteractionMessageComponent:
		b.onClick(ctx, i, respond)
	default:
		b.log.LogAttrs(ctx, slog.LevelWarn, "discord interaction of unknown type", slog.Int("type", int(i.Type)))
	}
}

// wellFormed reports whether an interaction carries the data its type
// needs (discordgo's accessors panic otherwise) and a token to answer with.
func wellFormed(i *discordgo.Interaction) bool {
	if i.Type == discordgo.InteractionPing {
		return true
	}
	if i.Token == "" || i.ID == "" {
		return false
	}
	switch i.Type {
	case discordgo.InteractionApplicationCommand, discordgo.InteractionApplicationCommandAutocomplete:
		_, ok := i.Data.(discordgo.ApplicationCommandInteractionData)
		return ok
	case discordgo.InteractionMessageComponent:
		_, ok := i.Data.(discordgo.MessageComponentInteractionData)
		return ok
	}
	return true
}

// report logs a failed Discord call of an interaction; tokens are redacted.
func (b *Bot) report(ctx context.Context, i *discordgo.Interaction, op string, err error) {
	if err == nil {
		return
	}
	b.log.LogAttrs(ctx, slog.LevelWarn, "discord call failed", slog.String("op", op),
		slog.String("interaction_id", i.ID), slog.Any("error", b.redact(err, i.Token)))
}

func (b *Bot) onCommand(ctx context.Context, i *discordgo.Interaction, respond responder) {
	text, err := commandText(i.ApplicationCommandData())
	if err != nil {
		var bad *badOption
		r := commands.Reply{Status: commands.StatusError, Text: err.Error(), Visibility: commands.Ephemeral, Done: true}
		if errors.As(err, &bad) {
			r.Usage = commands.Usage(bad.command)
		}
		b.respondNow(ctx, i, respond, r, false)
		return
	}
	b.answer(ctx, i, respond, b.commandRequest(i, text), false)
}

// answer runs a request and answers the interaction: with the reply itself
// when it comes within the ack budget (chat.Respond), else with a deferral
// (type 5; type 6 when update, to act on the clicked message) that the
// reply then fills in. Commands that become jobs are deferred at once and
// publicly: their message is the job's, updated as it moves on.
func (b *Bot) answer(ctx context.Context, i *discordgo.Interaction, respond responder, req commands.Request, update bool) {
	// The flow exists before the command runs: a job it starts may report
	// progress before this answer is sent, and that progress must wait.
	f := b.flows.start(i.Token, b.now())
	hctx, cancel := context.WithTimeout(ctx, handleTimeout)
	defer cancel()
	resp, ephemeral := deferral(i, req, update)
	var err error
	deferred := false
	// A job command is acknowledged publicly before it runs, unless it is
	// malformed or the requester's role refuses it: that answer then comes
	// at once, to them alone, never a public "thinking…" taken back.
	refused := chat.BecomesJob(req) && !(chat.AckAtOnce(req) && b.svc.Permits(req))
	if refused && !update {
		resp, ephemeral = &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}}, true
	}
	if update || chat.BecomesJob(req) && !refused {
		// Acknowledged before any work: the 3 s never depend on the command
		// layer. A job whose acknowledgement Discord cannot have shown is
		// not run: the user saw "The application did not respond" and
		// runs it again, and both would rent.
		what := jobWord(req)
		if age, old := b.stale(i); old {
			f.acknowledged(ephemeral, errTooLate)
			b.refuse(ctx, i, what, "older than Discord's 3 s", slog.Duration("age", age))
			b.tellNotRun(ctx, i, what, nil)
			return
		}
		// Not retried after a 502: had the first attempt landed, the retry
		// would get 40060 (already acknowledged), read as another's answer;
		// ackLanded looks at what Discord holds instead.
		err = respond(ctx, resp, discordgo.WithRestRetries(0))
		b.report(ctx, i, "defer", err)
		if err != nil && b.ackLanded(ctx, i, resp, err) {
			err = nil
		}
		f.acknowledged(ephemeral, err)
		if err != nil {
			b.refuse(ctx, i, what, "acknowledgement failed", slog.Any("error", b.redact(err, i.Token)))
			b.tellNotRun(ctx, i, what, err)
			return
		}
		deferred = true
	}
	var ans chat.Answer
	if refused {
		ans = chat.RespondWithin(hctx, b.svc, req, b.o.AckBudget)
	} else {
		ans = chat.Respond(hctx, b.svc, req, b.o.AckBudget)
	}
	if !deferred && ans.Now != nil {
		b.respondNow(ctx, i, respond, *ans.Now, update)
		return
	}
	if !deferred {
		err = respond(ctx, resp)
		f.acknowledged(ephemeral, err)
		b.report(ctx, i, "defer", err)
	}
	var r commands.Reply
	if ans.Now != nil {
		r = *ans.Now
	} else {
		r = <-ans.Later
	}
	if err == nil {
		b.finish(ctx, i, f, req.ReplyTarget, r)
	}
}

// deferral is the deferred answer of a request, and whether the response it
// creates is ephemeral: a click that acts on its message defers an update of
// it; commands that become jobs, and clicks, defer a public message (a
// refusal is moved to an ephemeral one later); anything else an ephemeral one.
func deferral(i *discordgo.Interaction, req commands.Request, update bool) (*discordgo.InteractionResponse, bool) {
	if update {
		return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate},
			i.Message != nil && i.Message.Flags&discordgo.MessageFlagsEphemeral != 0
	}
	if req.Action != nil || chat.BecomesJob(req) {
		return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{}}, false
	}
	return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}}, true
}

// respondNow answers with a rendered reply at once (type 4, or 7 to update
// the clicked message), then sends its private part.
func (b *Bot) respondNow(ctx context.Context, i *discordgo.Interaction, respond responder, r commands.Reply, update bool) {
	f := b.flows.start(i.Token, b.now())
	pub, private := chat.Split(r)
	m := renderReply(pub)
	typ := discordgo.InteractionResponseChannelMessageWithSource
	data := m.responseData()
	if update {
		typ = discordgo.InteractionResponseUpdateMessage
		data.Flags = 0 // an update keeps the message's own flags
	}
	err := respond(ctx, &discordgo.InteractionResponse{Type: typ, Data: data})
	f.acknowledged(m.Ephemeral, err)
	b.report(ctx, i, "respond", err)
	if err == nil && m.Image != nil {
		// The response went as JSON within the ack budget; its chart
		// follows as an edit that attaches it (multipart).
		_, err := b.rest.InteractionResponseEdit(i, m.webhookEdit(), discordgo.WithContext(ctx))
		b.report(ctx, i, "attach chart", err)
	}
	if err == nil {
		b.sendPrivate(ctx, i, private)
	}
}

// finish puts a reply into a deferred response. A job's first progress
// becomes the job's message through the follower (unless the job's progress
// got there first, or the job has a message elsewhere: then this response
// shows the reply as it is). A reply for the requester alone replaces a
// public deferral with an ephemeral follow-up.
func (b *Bot) finish(ctx context.Context, i *discordgo.Interaction, f *flow, dest string, r commands.Reply) {
	pub, private := chat.Split(r)
	m := renderReply(pub)
	switch {
	case chat.Progress(r):
		_, err := b.follow.Start(ctx, r.JobID, dest, "", pub)
		if errors.Is(err, chat.ErrNoMessage) && !b.isOriginal(dest, i.Token) {
			_, err = b.rest.InteractionResponseEdit(i, m.webhookEdit(), discordgo.WithContext(ctx))
		} else if errors.Is(err, chat.ErrNoMessage) {
			err = nil
		}
		b.report(ctx, i, "job message", err)
	case chat.ForRequester(r) && !f.ephemeral:
		b.report(ctx, i, "delete original", b.rest.InteractionResponseDelete(i, discordgo.WithContext(ctx)))
		_, err := b.rest.FollowupMessageCreate(i, true, m.webhookParams(), discordgo.WithContext(ctx))
		b.report(ctx, i, "ephemeral follow-up", err)
	default:
		_, err := b.rest.InteractionResponseEdit(i, m.webhookEdit(), discordgo.WithContext(ctx))
		b.report(ctx, i, "edit original", err)
	}
	b.sendPrivate(ctx, i, private)
}

// isOriginal reports whether dest is the reply target of this very
// interaction (its token).
func (b *Bot) isOriginal(dest, token string) bool {
	tg, ok := decodeTarget(dest)
	return ok && tg.Token == token
}

// sendPrivate sends a reply's private part to the requester alone.
func (b *Bot) sendPrivate(ctx context.Context, i *discordgo.Interaction, p *commands.PrivatePart) {
	if p == nil {
		return
	}
	_, err := b.rest.FollowupMessageCreate(i, true, renderPrivate(p).webhookParams(), discordgo.WithContext(ctx))
	b.report(ctx, i, "private follow-up", err)
}

// onClick answers a button. Whoever clicks is checked again: by CheckCancel
// before the cancel question, by the command layer for everything else.
func (b *Bot) onClick(ctx context.Context, i *discordgo.Interaction, respond responder) {
	a := parseCustomID(i.MessageComponentData().CustomID)
	msg := ""
	if i.Message != nil {
		msg = i.Message.ChannelID + "/" + i.Message.ID
	}
	kind, arg, _ := strings.Cut(a.ID, ":")
	switch kind + ":" {
	case "cancel:":
		id, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || id <= 0 {
			break
		}
		cctx, cancel := context.WithTimeout(ctx, b.o.AckBudget)
		defer cancel()
		if r := b.svc.CheckCancel(cctx, b.clickRequest(i, a, msg), id); r != nil {
			b.respondNow(ctx, i, respond, *r, false)
			return
		}
		b.askCancel(ctx, i, respond, arg)
		return
	case cancelKeep:
		b.respondNow(ctx, i, respond, commands.Reply{Status: commands.StatusOK, Text: "Kept order #" + arg + ".",
			Visibility: commands.Ephemeral, Done: true}, true)
		return
	case cancelYes:
		req := b.clickRequest(i, commands.Action{ID: "cancel:" + arg}, msg)
		if tg, ok := b.prompts.take(a.Value, b.now()); ok {
			b.confirmCancel(ctx, i, respond, req, tg, arg)
			return
		}
		// The question outlived this process's memory of it: the cancel
		// runs on the question's message.
		b.answer(ctx, i, respond, req, true)
		return
	}
	b.answer(ctx, i, respond, b.clickRequest(i, a, msg), false)
}

// flow is the state of one interaction's first answer: a job's progress
// waits for it before editing the response.
type flow struct {
	mu        sync.Mutex
	ack       chan struct{}
	ackOnce   sync.Once
	ephemeral bool
	err       error // the first answer failed
	created   time.Time
}

// acknowledged records the first answer.
func (f *flow) acknowledged(ephemeral bool, err error) {
	f.ackOnce.Do(func() {
		f.mu.Lock()
		f.ephemeral, f.err = ephemeral, err
		f.mu.Unlock()
		close(f.ack)
	})
}

// wait waits (a bounded time) for the first answer of the interaction whose
// token it is, when this process is answering it.
func (fs *flows) wait(ctx context.Context, token string) error {
	f := fs.get(token)
	if f == nil {
		return nil
	}
	t := time.NewTimer(ackWait)
	defer t.Stop()
	select {
	case <-f.ack:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// flows holds the flows of recent interactions by token.
type flows struct {
	mu sync.Mutex
	m  map[string]*flow
}

func newFlows() *flows { return &flows{m: map[string]*flow{}} }

// start returns the interaction's flow, creating it; old flows are dropped.
func (fs *flows) start(token string, now time.Time) *flow {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[token]; ok {
		return f
	}
	if len(fs.m) > 1024 {
		for k, f := range fs.m {
			if now.Sub(f.created) > 20*time.Minute {
				delete(fs.m, k)
			}
		}
	}
	f := &flow{ack: make(chan struct{}), created: now}
	fs.m[token] = f
	return f
}

func (fs *flows) get(token string) *flow {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.m[token]
}
