package discordbot

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// Discord has no confirmation dialog: a Cancel click is answered with a
// deferred update of the message the button is on (nothing changes yet),
// and the question comes as an ephemeral follow-up. Its Confirm button
// carries the Cancel click's interaction id; that click's token edits the
// message the Cancel button was on, so the cancel job's progress replaces
// it ("Cancelling…", then "cancelled", no button left), as a Slack Cancel
// takes over its message. The question itself closes on Confirm or Keep.

// promptLifetime bounds how long a question's Cancel click is remembered:
// its interaction token lasts 15 minutes.
const promptLifetime = 14 * time.Minute

// prompts remembers, by the Cancel click's interaction id, the target of
// the message the Cancel button was on.
type prompts struct {
	mu sync.Mutex
	m  map[string]target
}

func (p *prompts) put(id string, tg target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.m) > 1024 {
		for k, v := range p.m {
			if tg.Created.Sub(v.Created) > promptLifetime {
				delete(p.m, k)
			}
		}
	}
	p.m[id] = tg
}

// take returns and forgets the target of Cancel click id, if it is fresh.
func (p *prompts) take(id string, now time.Time) (target, bool) {
	if id == "" {
		return target{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tg, ok := p.m[id]
	delete(p.m, id)
	return tg, ok && now.Sub(tg.Created) < promptLifetime
}

// askCancel answers a Cancel click the requester may act on: a deferred
// update of the clicked message, then the question, ephemerally.
func (b *Bot) askCancel(ctx context.Context, i *discordgo.Interaction, respond responder, orderID string) {
	f := b.flows.start(i.Token, b.now())
	err := respond(ctx, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate})
	f.acknowledged(i.Message != nil && i.Message.Flags&discordgo.MessageFlagsEphemeral != 0, err)
	b.report(ctx, i, "cancel click", err)
	if err != nil {
		return
	}
	b.prompts.put(i.ID, target{Channel: i.ChannelID, Token: i.Token, Created: b.now()})
	_, err = b.rest.FollowupMessageCreate(i, true, renderCancelPrompt(orderID, i.ID).webhookParams(), discordgo.WithContext(ctx))
	b.report(ctx, i, "cancel prompt", err)
}

// confirmCancel runs a confirmed cancel whose Cancel click is known: the
// question closes (the acknowledgement, before anything runs), and the
// cancel job's progress takes over the message the Cancel button was on.
// A refusal replaces the question, for the requester alone.
func (b *Bot) confirmCancel(ctx context.Context, i *discordgo.Interaction, respond responder, req commands.Request, tg target, orderID string) {
	if age, old := b.stale(i); old {
		b.refuse(ctx, i, "cancel click", "older than Discord's 3 s", slog.Duration("age", age))
		b.tellNotRun(ctx, i, "cancel click", nil)
		return
	}
	f := b.flows.start(i.Token, b.now())
	closing := renderNotice(commands.StatusQueued, "Cancelling order #"+orderID+"; its message shows how it goes.")
	data := closing.responseData()
	data.Flags = 0 // an update keeps the message's own flags
	err := respond(ctx, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseUpdateMessage, Data: data},
		discordgo.WithRestRetries(0))
	f.acknowledged(true, err)
	b.report(ctx, i, "cancel confirm", err)
	if err != nil {
		b.refuse(ctx, i, "cancel click", "acknowledgement failed", slog.Any("error", b.redact(err, i.Token)))
		b.tellNotRun(ctx, i, "cancel click", err)
		return
	}
	req.ReplyTarget = encodeTarget(tg)
	hctx, cancel := context.WithTimeout(ctx, handleTimeout)
	defer cancel()
	r := b.svc.Handle(hctx, req)
	pub, private := chat.Split(r)
	if chat.Progress(r) {
		_, err = b.follow.Start(ctx, r.JobID, req.ReplyTarget, "", pub)
		if errors.Is(err, chat.ErrNoMessage) {
			err = nil
		}
		b.report(ctx, i, "job message", err)
	} else {
		_, err = b.rest.InteractionResponseEdit(i, renderReply(pub).webhookEdit(), discordgo.WithContext(ctx))
		b.report(ctx, i, "edit question", err)
	}
	b.sendPrivate(ctx, i, private)
}
