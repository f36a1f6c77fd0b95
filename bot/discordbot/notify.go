package discordbot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/commands"
)

// refPrefix marks a job's reply that moved to a channel message sent with
// the bot token: "msg:<channel id>:<message id>".
const refPrefix = "msg:"

// ackWait bounds how long progress waits for the interaction's first answer.
const ackWait = 5 * time.Second

// Notify implements commands.Notifier for jobs started from Discord: it
// edits the interaction's response while the interaction token is fresh,
// then moves progress to a channel message sent with the bot token (edited
// in place from then on). The private part goes to the requester alone: an
// ephemeral follow-up while the token lasts, else a direct message. Other
// platforms' targets are left to their notifiers.
func (b *Bot) Notify(ctx context.Context, t commands.Target, r commands.Reply) (string, error) {
	if t.Platform != commands.PlatformDiscord {
		return "", nil
	}
	tg, ok := decodeTarget(t.ReplyTarget)
	if !ok {
		return "", fmt.Errorf("discordbot: job %s: unreadable reply target", r.JobID)
	}
	if f := b.flows.get(tg.Token); f != nil {
		select {
		case <-f.ack:
		case <-time.After(ackWait):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.progressed = true
	}
	public := renderReply(r.Public())
	public.Ephemeral = false
	fresh := b.now().Sub(tg.Created) < b.o.TokenLifetime
	ref := t.Ref
	if ref == "" && fresh {
		err := b.editOriginal(ctx, tg, public)
		if err == nil {
			return "", b.notifyPrivate(ctx, t, tg, r, true)
		}
		if !tokenGone(err) {
			return "", fmt.Errorf("discordbot: job %s: edit response: %w", r.JobID, b.redact(err, tg.Token))
		}
	}
	ref, err := b.channelMessage(ctx, tg.Channel, ref, public)
	if err != nil {
		return "", fmt.Errorf("discordbot: job %s: channel message: %w", r.JobID, b.redact(err, tg.Token))
	}
	return ref, b.notifyPrivate(ctx, t, tg, r, fresh)
}

// editOriginal edits the interaction's original response with its token.
func (b *Bot) editOriginal(ctx context.Context, tg target, m message) error {
	i := &discordgo.Interaction{AppID: b.o.AppID, Token: tg.Token}
	_, err := b.rest.InteractionResponseEdit(i, m.webhookEdit(), discordgo.WithContext(ctx))
	return err
}

// channelMessage edits the message ref names or, when there is none (or it
// is gone), posts a new one to the channel; it returns the message's ref.
func (b *Bot) channelMessage(ctx context.Context, channel, ref string, m message) (string, error) {
	if id, ok := strings.CutPrefix(ref, refPrefix+channel+":"); ok {
		_, err := b.rest.ChannelMessageEditComplex(m.messageEdit(channel, id), discordgo.WithContext(ctx))
		if err == nil || !notFound(err) {
			return ref, err
		}
	}
	msg, err := b.rest.ChannelMessageSendComplex(channel, m.messageSend(), discordgo.WithContext(ctx))
	if err != nil {
		return "", err
	}
	return refPrefix + channel + ":" + msg.ID, nil
}

// notifyPrivate sends a reply's private part to the requester alone: an
// ephemeral follow-up while the interaction token lasts, else a DM.
func (b *Bot) notifyPrivate(ctx context.Context, t commands.Target, tg target, r commands.Reply, fresh bool) error {
	if r.Private == nil {
		return nil
	}
	m := renderPrivate(r.Private)
	if fresh {
		i := &discordgo.Interaction{AppID: b.o.AppID, Token: tg.Token}
		_, err := b.rest.FollowupMessageCreate(i, true, m.webhookParams(), discordgo.WithContext(ctx))
		if err == nil {
			return nil
		}
		if !tokenGone(err) {
			return fmt.Errorf("discordbot: job %s: private follow-up: %w", r.JobID, b.redact(err, tg.Token))
		}
	}
	user, ok := strings.CutPrefix(t.User, userPrefix)
	if !ok || user == "" {
		return fmt.Errorf("discordbot: job %s: no Discord user to send connection details to", r.JobID)
	}
	dm, err := b.rest.UserChannelCreate(user, discordgo.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("discordbot: job %s: open DM: %w", r.JobID, b.redact(err))
	}
	if _, err := b.rest.ChannelMessageSendComplex(dm.ID, m.messageSend(), discordgo.WithContext(ctx)); err != nil {
		return fmt.Errorf("discordbot: job %s: DM: %w", r.JobID, b.redact(err))
	}
	return nil
}

// tokenGone reports an interaction token Discord no longer accepts (expired,
// or its response deleted).
func tokenGone(err error) bool {
	var re *discordgo.RESTError
	if !errors.As(err, &re) || re.Response == nil {
		return false
	}
	return re.Response.StatusCode == http.StatusUnauthorized || re.Response.StatusCode == http.StatusNotFound
}

func notFound(err error) bool {
	var re *discordgo.RESTError
	return errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == http.StatusNotFound
}
