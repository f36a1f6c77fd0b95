package slackbot

import (
	"context"
	"errors"
	"log/slog"

	"github.com/slack-go/slack"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// SinkName implements commands.Sink: the Slack sink's outbox cursor.
func (b *Bot) SinkName() string { return "slack" }

// Deliver implements commands.Sink. Lifecycle events whose origin is a
// Slack request (orders rented from Slack, their cancellation wherever it
// came from, watches set in Slack) are posted in the thread of the order's
// message, or in the conversation when there is no message. Events of
// other platforms, and those chat.EventReply does not word, are skipped. A
// post Slack refuses for good (channel gone, bot removed) is logged and
// skipped; any other failure stops the batch, to be offered again.
func (b *Bot) Deliver(ctx context.Context, events []commands.SinkEvent) (int, error) {
	for i, ev := range events {
		o := ev.Origin
		if o == nil || o.Platform != commands.PlatformSlack {
			continue
		}
		r, ok := chat.EventReplyFor(ev)
		if !ok {
			continue
		}
		d, err := decodeDest(o.ReplyTarget)
		if err != nil {
			continue
		}
		err = b.msgr.thread(ctx, d.Channel, o.ReplyRef, r)
		if err == nil {
			b.eventImage(ctx, ev, d.Channel, o.ReplyRef)
			continue
		}
		if permanent(err) {
			b.log.LogAttrs(ctx, slog.LevelWarn, "slack lifecycle event not posted", slog.Int64("event_id", ev.ID),
				slog.String("event_type", ev.Type), slog.Any("error", err))
			continue
		}
		return i, err
	}
	return len(events), nil
}

// eventImage shares the event's picture (a watch alert's 24 h chart) right
// after its message, in the same place. It is shown once at most: a
// failure is logged and the event is not offered again for it.
func (b *Bot) eventImage(ctx context.Context, ev commands.SinkEvent, channel, ref string) {
	if ev.Image == nil {
		return
	}
	img := ev.Image(ctx)
	if img == nil {
		return
	}
	var threadTS string
	if c, ts, ok := splitRef(ref); ok {
		channel, threadTS = c, ts
	}
	if err := b.msgr.upload(ctx, channel, threadTS, "", *img); err != nil && ctx.Err() == nil {
		b.log.LogAttrs(ctx, slog.LevelWarn, "slack event chart not shared", slog.Int64("event_id", ev.ID), slog.Any("error", err))
	}
}

// permanent reports Slack refusals that no retry changes.
func permanent(err error) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "channel_not_found", "not_in_channel", "is_archived", "msg_too_long", "no_text",
			"invalid_blocks", "restricted_action", "thread_not_found", "message_not_found":
			return true
		}
	}
	return false
}

var _ commands.Sink = (*Bot)(nil)
