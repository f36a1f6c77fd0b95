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

	"github.com/clorebot/clorebot/commands"
)

// responder sends an interaction's first answer: a REST callback for the
// gateway, the HTTP response for HTTP interactions. It is called once.
type responder func(ctx context.Context, resp *discordgo.InteractionResponse) error

// handleTimeout bounds one command's work in the command layer.
const handleTimeout = 30 * time.Second

// handle answers one interaction, whichever way it came.
func (b *Bot) handle(ctx context.Context, i *discordgo.Interaction, respond responder) {
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

// report logs a failed Discord call of an interaction; tokens are redacted.
func (b *Bot) report(ctx context.Context, i *discordgo.Interaction, op string, err error) {
	if err == nil {
		return
	}
	b.log.LogAttrs(ctx, slog.LevelWarn, "discord call failed", slog.String("op", op),
		slog.String("interaction_id", i.ID), slog.Any("error", b.redact(err, i.Token)))
}

// isJob reports whether a command's text starts a job: those are deferred at
// once (type 5) and their response is edited as the job moves on.
func isJob(text string) bool {
	return strings.HasPrefix(text, "rent ") || strings.HasPrefix(text, "cancel ")
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
	req := b.baseRequest(i)
	req.Text = text
	if !isJob(text) {
		b.answerWithin(ctx, i, respond, req, false)
		return
	}
	f := b.flows.start(i.Token, b.now())
	err = respond(ctx, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{}})
	f.acknowledged(false, err)
	b.report(ctx, i, "defer", err)
	hctx, cancel := context.WithTimeout(ctx, handleTimeout)
	defer cancel()
	b.finish(ctx, i, f, b.svc.Handle(hctx, req))
}

// respondNow answers with a rendered reply at once (type 4, or 7 to update
// the clicked message), then sends its private part.
func (b *Bot) respondNow(ctx context.Context, i *discordgo.Interaction, respond responder, r commands.Reply, update bool) {
	f := b.flows.start(i.Token, b.now())
	m := renderReply(r.Public())
	typ := discordgo.InteractionResponseChannelMessageWithSource
	if update {
		typ = discordgo.InteractionResponseUpdateMessage
	}
	data := m.responseData()
	if update {
		data.Flags = 0 // an update keeps the message's own flags
	}
	err := respond(ctx, &discordgo.InteractionResponse{Type: typ, Data: data})
	f.acknowledged(m.Ephemeral, err)
	b.report(ctx, i, "respond", err)
	if err == nil {
		b.sendPrivate(ctx, i, r)
	}
}

// answerWithin runs a request and answers with its reply when it comes
// within the ack budget; otherwise it defers (ephemeral, since instant
// replies mostly are) and edits the response when the reply comes.
func (b *Bot) answerWithin(ctx context.Context, i *discordgo.Interaction, respond responder, req commands.Request, update bool) {
	// The flow exists before the command runs: a job it starts may report
	// progress before this answer is sent, and that progress must wait.
	f := b.flows.start(i.Token, b.now())
	hctx, cancel := context.WithTimeout(ctx, handleTimeout)
	defer cancel()
	done := make(chan commands.Reply, 1)
	go func() { done <- b.svc.Handle(hctx, req) }()
	budget := time.NewTimer(b.o.AckBudget)
	defer budget.Stop()
	select {
	case r := <-done:
		b.respondNow(ctx, i, respond, r, update)
		return
	case <-budget.C:
	}
	resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}}
	ephemeral := true
	if update {
		resp = &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
		ephemeral = i.Message != nil && i.Message.Flags&discordgo.MessageFlagsEphemeral != 0
	}
	err := respond(ctx, resp)
	f.acknowledged(ephemeral, err)
	b.report(ctx, i, "defer", err)
	b.finish(ctx, i, f, <-done)
}

// finish puts a reply into a deferred response: an edit, unless a job's
// progress already replaced it, or the reply is for the requester alone
// while the deferred response is public (then the public response is
// deleted and the reply sent ephemerally).
func (b *Bot) finish(ctx context.Context, i *discordgo.Interaction, f *flow, r commands.Reply) {
	m := renderReply(r.Public())
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.progressed || f.err != nil {
		b.sendPrivate(ctx, i, r)
		return
	}
	if m.Ephemeral && !f.ephemeral {
		b.report(ctx, i, "delete original", b.rest.InteractionResponseDelete(i, discordgo.WithContext(ctx)))
		_, err := b.rest.FollowupMessageCreate(i, true, m.webhookParams(), discordgo.WithContext(ctx))
		b.report(ctx, i, "ephemeral follow-up", err)
	} else {
		_, err := b.rest.InteractionResponseEdit(i, m.webhookEdit(), discordgo.WithContext(ctx))
		b.report(ctx, i, "edit original", err)
	}
	b.sendPrivate(ctx, i, r)
}

// sendPrivate sends a reply's private part to the requester alone.
func (b *Bot) sendPrivate(ctx context.Context, i *discordgo.Interaction, r commands.Reply) {
	if r.Private == nil {
		return
	}
	_, err := b.rest.FollowupMessageCreate(i, true, renderPrivate(r.Private).webhookParams(), discordgo.WithContext(ctx))
	b.report(ctx, i, "private follow-up", err)
}

// onClick answers a button. Whoever clicks is checked again: by CheckCancel
// before the cancel question, by the command layer for everything else.
func (b *Bot) onClick(ctx context.Context, i *discordgo.Interaction, respond responder) {
	a := parseCustomID(i.MessageComponentData().CustomID)
	req := b.baseRequest(i)
	kind, arg, _ := strings.Cut(a.ID, ":")
	switch kind + ":" {
	case "cancel:":
		id, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || id <= 0 {
			break
		}
		cctx, cancel := context.WithTimeout(ctx, b.o.AckBudget)
		defer cancel()
		if r := b.svc.CheckCancel(cctx, req, id); r != nil {
			b.respondNow(ctx, i, respond, *r, false)
			return
		}
		m := renderCancelPrompt(arg)
		f := b.flows.start(i.Token, b.now())
		err = respond(ctx, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource, Data: m.responseData()})
		f.acknowledged(true, err)
		b.report(ctx, i, "cancel prompt", err)
		return
	case cancelKeep:
		b.respondNow(ctx, i, respond, commands.Reply{Status: commands.StatusOK, Text: "Kept order #" + arg + ".",
			Visibility: commands.Ephemeral, Done: true}, true)
		return
	case cancelYes:
		req.Action = &commands.Action{ID: "cancel:" + arg}
		b.answerWithin(ctx, i, respond, req, true)
		return
	}
	req.Action = &a
	b.answerWithin(ctx, i, respond, req, false)
}

// flow is the state of one interaction's response, shared by the
// interaction's handler and the notifier that carries its job's progress:
// progress waits for the first answer and then wins over the handler's
// (older) reply.
type flow struct {
	mu         sync.Mutex
	ack        chan struct{}
	ackOnce    sync.Once
	ephemeral  bool
	err        error // the first answer failed
	progressed bool
	created    time.Time
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
