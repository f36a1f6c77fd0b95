package discordbot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// refPrefix marks a job's message that moved to a channel message sent with
// the bot token: "msg:<channel id>:<message id>".
const refPrefix = "msg:"

// ackWait bounds how long progress waits for the interaction's first answer.
const ackWait = 5 * time.Second

// Notify implements commands.Notifier for jobs started from Discord. The
// job's public progress is one message, followed by chat.Follower (edits
// coalesced, the latest wins): the interaction's response while its token
// is fresh, then a channel message sent with the bot token. The private
// part goes to the requester alone: an ephemeral follow-up while the token
// lasts, else a direct message. Other platforms' targets are left to their
// notifiers.
func (b *Bot) Notify(ctx context.Context, t commands.Target, r commands.Reply) (string, error) {
	if t.Platform != commands.PlatformDiscord {
		return "", nil
	}
	tg, ok := decodeTarget(t.ReplyTarget)
	if !ok {
		return "", fmt.Errorf("discordbot: job %s: unreadable reply target", r.JobID)
	}
	var errs []error
	pub, private := chat.Split(r)
	if private != nil {
		errs = append(errs, b.notifyPrivate(ctx, t, tg, r.JobID, private))
	}
	if _, err := b.follow.Show(ctx, r.JobID, t.ReplyTarget, "", pub); err != nil {
		errs = append(errs, b.redact(err, tg.Token))
	}
	// The job's message is found again from its reply target; no reference
	// (which would carry the token) is stored.
	return "", errors.Join(errs...)
}

// messenger shows a job's message on Discord for chat.Follower. A message
// reference is the job's reply target: the interaction's response, moved to
// a channel message when the token is about to expire or gone.
type messenger struct {
	b *Bot

	mu    sync.Mutex
	moved map[string]string // target.key() -> "msg:<channel>:<id>"
}

// Post implements chat.Messenger: the job's first message is the response
// the interaction deferred.
func (m *messenger) Post(ctx context.Context, dest string, r commands.Reply) (string, error) {
	return dest, m.Edit(ctx, dest, r)
}

// Edit implements chat.Messenger.
func (m *messenger) Edit(ctx context.Context, ref string, r commands.Reply) error {
	tg, ok := decodeTarget(ref)
	if !ok {
		return errors.New("discordbot: unreadable message reference")
	}
	b := m.b
	if err := b.flows.wait(ctx, tg.Token); err != nil {
		return err
	}
	msg := renderReply(r)
	msg.Ephemeral = false
	m.mu.Lock()
	moved := m.moved[tg.key()]
	m.mu.Unlock()
	if moved == "" && tg.Token != "" && b.now().Sub(tg.Created) < b.o.TokenLifetime {
		err := b.editOriginal(ctx, tg, msg)
		if err == nil || !tokenGone(err) {
			return b.redact(err, tg.Token)
		}
	}
	ref, err := b.channelMessage(ctx, tg.Channel, moved, msg)
	if err != nil {
		return fmt.Errorf("discordbot: channel message: %w", b.redact(err, tg.Token))
	}
	m.mu.Lock()
	if len(m.moved) > 4096 {
		clear(m.moved)
	}
	m.moved[tg.key()] = ref
	m.mu.Unlock()
	return nil
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
	if b.o.Token == "" {
		return "", errors.New("discordbot: no bot token to post to the channel with")
	}
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
func (b *Bot) notifyPrivate(ctx context.Context, t commands.Target, tg target, jobID string, p *commands.PrivatePart) error {
	m := renderPrivate(p)
	if tg.Token != "" && b.now().Sub(tg.Created) < b.o.TokenLifetime {
		if err := b.flows.wait(ctx, tg.Token); err != nil {
			return err
		}
		i := &discordgo.Interaction{AppID: b.o.AppID, Token: tg.Token}
		_, err := b.rest.FollowupMessageCreate(i, true, m.webhookParams(), discordgo.WithContext(ctx))
		if err == nil {
			return nil
		}
		if !tokenGone(err) {
			return fmt.Errorf("discordbot: job %s: private follow-up: %w", jobID, b.redact(err, tg.Token))
		}
	}
	user, ok := strings.CutPrefix(t.User, userPrefix)
	if !ok || user == "" || b.o.Token == "" {
		return fmt.Errorf("discordbot: job %s: no way left to send connection details to %s", jobID, t.User)
	}
	dm, err := b.rest.UserChannelCreate(user, discordgo.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("discordbot: job %s: open DM: %w", jobID, b.redact(err))
	}
	if _, err := b.rest.ChannelMessageSendComplex(dm.ID, m.messageSend(), discordgo.WithContext(ctx)); err != nil {
		return fmt.Errorf("discordbot: job %s: DM: %w", jobID, b.redact(err))
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
