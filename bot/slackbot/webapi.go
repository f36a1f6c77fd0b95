package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	neturl "net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// webAPI is the part of slack-go's Web API client the bot calls; a
// response_url post goes through PostMessageContext too.
type webAPI interface {
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
	PostEphemeralContext(ctx context.Context, channelID, userID string, options ...slack.MsgOption) (string, error)
	// UploadFileContext is Slack's file upload: files.getUploadURLExternal,
	// the POST of the file to the URL it gives, files.completeUploadExternal.
	UploadFileContext(ctx context.Context, params slack.UploadFileParameters) (*slack.FileSummary, error)
	OpenConversationContext(ctx context.Context, params *slack.OpenConversationParameters) (*slack.Channel, bool, bool, error)
}

// maxRateLimitWaits bounds how often one call waits out a 429.
const maxRateLimitWaits = 5

// limiter respects Slack's rate limits: after a 429 with Retry-After, calls
// of that method wait until the time has passed, then try again.
type limiter struct {
	mu        sync.Mutex
	notBefore map[string]time.Time
}

// call runs fn, waiting out 429s of method at most maxRateLimitWaits times.
func (l *limiter) call(ctx context.Context, method string, fn func() error) error {
	for attempt := 0; ; attempt++ {
		if err := l.wait(ctx, method); err != nil {
			return err
		}
		err := fn()
		rl, ok := errors.AsType[*slack.RateLimitedError](err)
		if !ok || attempt >= maxRateLimitWaits {
			return err
		}
		l.mu.Lock()
		if until := time.Now().Add(max(rl.RetryAfter, time.Second)); until.After(l.notBefore[method]) {
			l.notBefore[method] = until
		}
		l.mu.Unlock()
	}
}

func (l *limiter) wait(ctx context.Context, method string) error {
	l.mu.Lock()
	d := time.Until(l.notBefore[method])
	l.mu.Unlock()
	if d <= 0 {
		return nil
	}
	return chat.Sleep(ctx, d)
}

// dest is a Slack conversation as a job keeps it (Request.ReplyTarget):
// where the command was typed, by whom, its response_url while it lives,
// and for a click the message the button was on. The response_url is the
// target's expiring part (commands.ExpiringTarget): the store wipes it
// 30 minutes after the request, when Slack stops taking it.
type dest struct {
	Channel string `json:"c"`
	User    string `json:"u"`
	// ResponseURL is kept apart from the JSON (an "r" member is read from
	// targets stored before it was).
	ResponseURL string    `json:"r,omitempty"`
	Until       time.Time `json:"-"` // when ResponseURL expires
	TS          string    `json:"ts,omitempty"`
	Ephemeral   bool      `json:"e,omitempty"`
}

// responseURLLife is how long Slack takes a response_url.
const responseURLLife = 30 * time.Minute

// withResponseURL is d with the response_url of a request received now.
func (d dest) withResponseURL(url string, now time.Time) dest {
	d.ResponseURL, d.Until = url, now.Add(responseURLLife)
	return d
}

func (d dest) encode() string {
	url, until := d.ResponseURL, d.Until
	d.ResponseURL = ""
	b, _ := json.Marshal(d)
	return commands.ExpiringTarget(string(b), url, until)
}

// decodeDest reads a stored target; a response_url that expired is gone.
func decodeDest(s string) (dest, error) {
	now := time.Now()
	durable, url := commands.SplitTarget(s, now)
	var d dest
	if err := json.Unmarshal([]byte(durable), &d); err != nil || d.Channel == "" {
		return dest{}, fmt.Errorf("slackbot: not a Slack reply target")
	}
	if url != "" {
		_, _, d.Until = commands.ParseTarget(s)
		d.ResponseURL = url
	}
	return d, nil
}

// messageRef is the reference of a message the bot can edit ("" for none).
func (d dest) messageRef() string {
	if d.TS == "" || d.Ephemeral {
		return ""
	}
	return d.Channel + "/" + d.TS
}

func splitRef(ref string) (channel, ts string, ok bool) {
	channel, ts, ok = strings.Cut(ref, "/")
	return channel, ts, ok && channel != "" && ts != ""
}

// messenger posts and edits messages through the Web API; it implements
// chat.Messenger.
type messenger struct {
	api webAPI
	lim *limiter
}

// Post implements chat.Messenger: a new public message in dest's channel.
func (m *messenger) Post(ctx context.Context, to string, r commands.Reply) (string, error) {
	d, err := decodeDest(to)
	if err != nil {
		return "", err
	}
	var ts string
	err = m.lim.call(ctx, "chat.postMessage", func() error {
		var err error
		_, ts, err = m.api.PostMessageContext(ctx, d.Channel, msg(r)...)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("slackbot: chat.postMessage: %w", err)
	}
	return d.Channel + "/" + ts, nil
}

// Edit implements chat.Messenger: chat.update of the message ref.
func (m *messenger) Edit(ctx context.Context, ref string, r commands.Reply) error {
	channel, ts, ok := splitRef(ref)
	if !ok {
		return fmt.Errorf("slackbot: not a message reference: %q", ref)
	}
	err := m.lim.call(ctx, "chat.update", func() error {
		_, _, _, err := m.api.UpdateMessageContext(ctx, channel, ts, msg(r)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("slackbot: chat.update: %w", err)
	}
	return nil
}

// thread posts r in the thread of the message ref, or in channel when ref
// is "".
func (m *messenger) thread(ctx context.Context, channel, ref string, r commands.Reply) error {
	opts := msg(r)
	if c, ts, ok := splitRef(ref); ok {
		channel = c
		opts = append(opts, slack.MsgOptionTS(ts))
	}
	return m.lim.call(ctx, "chat.postMessage", func() error {
		_, _, err := m.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
}

// ephemeral shows r to d's user only: through the response_url when there
// is one (it works where the bot is not a member), else chat.postEphemeral.
func (m *messenger) ephemeral(ctx context.Context, d dest, r commands.Reply) error {
	if d.ResponseURL != "" {
		return m.respond(ctx, d.ResponseURL, slack.ResponseTypeEphemeral, r)
	}
	return m.lim.call(ctx, "chat.postEphemeral", func() error {
		_, err := m.api.PostEphemeralContext(ctx, d.Channel, d.User, msg(r)...)
		return err
	})
}

// respond posts r to a response_url, visible as responseType says.
func (m *messenger) respond(ctx context.Context, url, responseType string, r commands.Reply, extra ...slack.MsgOption) error {
	opts := append(msg(r), slack.MsgOptionResponseURL(url, responseType))
	opts = append(opts, extra...)
	err := m.lim.call(ctx, "response_url", func() error {
		_, _, err := m.api.PostMessageContext(ctx, "", opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("slackbot: response_url: %w", redactURL(err))
	}
	return nil
}

// redactURL drops the address from a transport error: a response_url is a
// bearer capability for 30 minutes and must not reach the logs.
func redactURL(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		return &neturl.Error{Op: ue.Op, URL: "[response_url]", Err: ue.Err}
	}
	return err
}

// private sends p to d's user only: an ephemeral message in the channel,
// else (the bot is not in the channel) a direct message. It never uses the
// response_url, whose messages the channel could be shown by mistake.
func (m *messenger) private(ctx context.Context, d dest, p commands.PrivatePart) error {
	opts := []slack.MsgOption{slack.MsgOptionText(PrivateText(p), false), slack.MsgOptionBlocks(PrivateBlocks(p)...)}
	err := m.lim.call(ctx, "chat.postEphemeral", func() error {
		_, err := m.api.PostEphemeralContext(ctx, d.Channel, d.User, opts...)
		return err
	})
	if err == nil {
		return nil
	}
	dmErr := m.lim.call(ctx, "chat.postMessage", func() error {
		_, _, err := m.api.PostMessageContext(ctx, d.User, opts...)
		return err
	})
	if dmErr != nil {
		return fmt.Errorf("slackbot: private details: ephemeral: %w; direct message: %w", err, dmErr)
	}
	return nil
}

// msg is the text and blocks of r's public part.
func msg(r commands.Reply) []slack.MsgOption {
	r = r.Public()
	return []slack.MsgOption{slack.MsgOptionText(FallbackText(r), false), slack.MsgOptionBlocks(Blocks(r)...)}
}

// upload shares img in channel (in the thread of threadTS when set) with
// comment as its message. The upload is three calls (upload URL, the
// file's POST, completion), each rate limited as its own method.
func (m *messenger) upload(ctx context.Context, channel, threadTS, comment string, img commands.Image) error {
	err := m.lim.call(ctx, "files.upload", func() error {
		_, err := m.api.UploadFileContext(ctx, slack.UploadFileParameters{
			Reader: bytes.NewReader(img.PNG), FileSize: len(img.PNG), Filename: img.Name, Title: img.Alt,
			AltTxt: img.Alt, Channel: channel, ThreadTimestamp: threadTS, InitialComment: comment})
		return err
	})
	if err != nil {
		return fmt.Errorf("slackbot: file upload: %w", redactURL(err))
	}
	return nil
}

// uploadToUser shares img in the user's direct conversation with the bot.
func (m *messenger) uploadToUser(ctx context.Context, user, comment string, img commands.Image) error {
	var dm *slack.Channel
	err := m.lim.call(ctx, "conversations.open", func() error {
		var err error
		dm, _, _, err = m.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}, ReturnIM: true})
		return err
	})
	if err != nil {
		return fmt.Errorf("slackbot: conversations.open: %w", err)
	}
	return m.upload(ctx, dm.ID, "", comment, img)
}
