package discordbot

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// maxInlineRetryAfter is the longest 429 the sink waits out itself; a longer
// one stops the batch and the outbox offers it again later.
const maxInlineRetryAfter = 5 * time.Second

// SinkName implements commands.Sink: the Discord sink's outbox cursor.
func (b *Bot) SinkName() string { return "discord" }

// Deliver implements commands.Sink. Lifecycle events and watch alerts whose
// origin is a Discord request (orders rented from Discord, their
// cancellation wherever it came from, watches set in Discord) are posted to
// the channel the request came from, with the bot token, worded by
// chat.EventReply; an event's picture (SinkEvent.Image: a watch alert's
// chart) is attached and shown in the message's embed. Other platforms' events, and those chat.EventReply does
// not word, are skipped. Discord's 429 is respected: a short retry_after is
// waited out, a longer one stops the batch until it has passed. A post
// Discord refuses for good (channel gone, no access) is logged and skipped;
// any other failure stops the batch, to be offered again.
func (b *Bot) Deliver(ctx context.Context, events []commands.SinkEvent) (int, error) {
	for i, ev := range events {
		o := ev.Origin
		if o == nil || o.Platform != commands.PlatformDiscord || b.o.Token == "" {
			continue
		}
		r, ok := chat.EventReplyFor(ev)
		if !ok {
			continue
		}
		tg, ok := decodeTarget(o.ReplyTarget)
		if !ok || tg.Channel == "" {
			continue
		}
		if ev.Image != nil {
			r.Image = ev.Image(ctx) // a watch alert's 24 h chart, in its embed
		}
		err := b.post(ctx, tg.Channel, renderReply(r))
		if err == nil {
			continue
		}
		if permanent(err) {
			b.log.LogAttrs(ctx, slog.LevelWarn, "discord lifecycle event not posted", slog.Int64("event_id", ev.ID),
				slog.String("event_type", ev.Type), slog.Any("error", b.redact(err)))
			continue
		}
		return i, b.redact(err)
	}
	return len(events), nil
}

// post sends a channel message, honouring Discord's 429 retry_after.
func (b *Bot) post(ctx context.Context, channel string, m message) error {
	m.Ephemeral = false
	for attempt := 0; ; attempt++ {
		if wait := b.limit.wait(); wait > 0 {
			if wait > maxInlineRetryAfter {
				return errRateLimited{wait}
			}
			if err := chat.Sleep(ctx, wait); err != nil {
				return err
			}
		}
		_, err := b.rest.ChannelMessageSendComplex(channel, m.messageSend(), discordgo.WithContext(ctx),
			discordgo.WithRetryOnRatelimit(false))
		var rl *discordgo.RateLimitError
		if !errors.As(err, &rl) || attempt == 3 {
			return err
		}
		b.limit.until(time.Now().Add(rl.RetryAfter))
	}
}

// errRateLimited stops a batch until Discord's retry_after has passed.
type errRateLimited struct{ wait time.Duration }

func (e errRateLimited) Error() string {
	return "discordbot: rate limited by Discord for " + e.wait.Round(time.Millisecond).String()
}

// rateLimit remembers until when Discord asked the sink to wait.
type rateLimit struct {
	mu sync.Mutex
	at time.Time
}

func (l *rateLimit) until(t time.Time) {
	l.mu.Lock()
	if t.After(l.at) {
		l.at = t
	}
	l.mu.Unlock()
}

func (l *rateLimit) wait() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Until(l.at)
}

// permanent reports Discord refusals that no retry changes: the channel is
// gone or the bot may not post there, or the message is malformed.
func permanent(err error) bool {
	var re *discordgo.RESTError
	if !errors.As(err, &re) || re.Response == nil {
		return false
	}
	switch re.Response.StatusCode {
	case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

var _ commands.Sink = (*Bot)(nil)
