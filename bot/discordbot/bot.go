package discordbot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// Service is the part of the command layer the Discord front door uses.
type Service interface {
	// Handle answers one request (commands.Service.Handle).
	Handle(ctx context.Context, req commands.Request) commands.Reply
	// Market is the marketplace summary per GPU model, for GPU autocomplete.
	Market(ctx context.Context) ([]commands.ModelSummary, error)
	// OrdersOf lists the orders a requester may act on, for order autocomplete.
	OrdersOf(ctx context.Context, req commands.Request, limit int) ([]commands.Order, error)
	// CheckCancel says whether the requester may cancel an order (nil: yes).
	CheckCancel(ctx context.Context, req commands.Request, orderID int64) *commands.Reply
	// Permits says whether the requester's role lets them run the command
	// (commands.Service.Permits): a job command that it refuses is not
	// deferred publicly.
	Permits(req commands.Request) bool
}

// Options configures the Discord front door.
type Options struct {
	Token     string // bot token, without "Bot "; empty: HTTP interactions only
	AppID     string // application id
	PublicKey string // hex Ed25519 key for HTTP interactions; empty: no HTTP interactions
	// GuildIDs are the guilds served: /clore is registered in each (at
	// once) and interactions from any other guild are refused. Empty:
	// registered globally, every guild served.
	GuildIDs []string
	// AllowDMs serves interactions from direct messages; refused otherwise.
	AllowDMs bool
	// APIURL is Discord's base URL (default https://discord.com/): REST goes
	// to <APIURL>api/v9/… and the gateway is discovered from there.
	APIURL  string
	Service Service
	Logger  *slog.Logger
	Now     func() time.Time // default time.Now

	// AckBudget is how long an instant command may take before the
	// interaction is deferred instead (default 1.5 s; Discord allows 3 s).
	AckBudget time.Duration
	// TokenLifetime is how long progress edits the interaction's response
	// before moving to a channel message sent with the bot token (default
	// 14 min: Discord's interaction tokens last 15).
	TokenLifetime time.Duration
	// ReadyTimeout is how long a new gateway session may take to see READY
	// before the watchdog abandons it (default 30 s).
	ReadyTimeout time.Duration
	// StallTimeout is how long a session may go without READY, RESUMED or a
	// heartbeat ACK before the watchdog abandons it (default 150 s; discordgo
	// itself reconnects after five missed ACKs, about 206 s on Discord).
	StallTimeout time.Duration
	// WatchdogTick is how often the watchdog looks (default ReadyTimeout/6).
	WatchdogTick time.Duration
	// Backoff is the first wait before a new session after a failed one
	// (default 1 s, doubling to 2 min).
	Backoff time.Duration
	// ProgressGap spaces two edits of a job's message (default 1 s); faster
	// progress is coalesced, the latest wins.
	ProgressGap time.Duration
	// Compress asks the gateway for zlib-compressed payloads (discordgo's
	// default); tests turn it off to read frames.
	Compress bool
	// ConnectAfter, when set, holds the gateway session until it is
	// closed: serve closes it once the command layer answers every
	// command (DESIGN.md §7). HTTP interactions, command registration and
	// job progress do not wait for it.
	ConnectAfter <-chan struct{}
	// Terms, when set, holds the gateway session to this process's terms
	// as the leader of the processes on one database (DESIGN.md §8): it
	// opens when a term begins and closes when it ends. HTTP
	// interactions, command registration and job progress run in every
	// process. nil: the session is always held.
	Terms Terms
	// Replays, when set, remembers the HTTP interactions answered, so that
	// a signed interaction replayed to another process on the database, or
	// to this one after a restart, within its signature's window is
	// refused (memory alone otherwise).
	Replays chat.ReplayStore
	// Drain is how long Run, once its context ends, waits for interaction
	// work still running (default 0: Run returns at once; Wait waits).
	Drain time.Duration
}

// Terms hands out the terms of this process's leadership
// (storage.Leader implements it).
type Terms interface {
	// NextTerm waits until this process leads and returns a context that
	// ends with that term.
	NextTerm(context.Context) (context.Context, error)
	// Term is the current term and true while this process leads.
	Term() (context.Context, bool)
}

// Bot is the Discord front door: the gateway session (with its watchdog),
// the HTTP interactions endpoint, command registration, and the notifier
// that carries job progress back to Discord.
type Bot struct {
	o    Options
	svc  Service
	log  *slog.Logger
	rest *discordgo.Session // REST only: interaction responses, messages, registration
	base *url.URL
	// transport carries every REST call to Discord.
	transport http.RoundTripper

	mu      sync.Mutex
	conn    *conn         // current gateway session
	seen    *chat.Seen    // gateway interaction ids
	replays *chat.Replays // HTTP interaction ids
	flows   *flows
	// prompts are the Cancel clicks whose question is open: their token
	// edits the message the Cancel button was on.
	prompts *prompts
	follow  *chat.Follower // each job's message
	limit   rateLimit      // the sink's 429 wait

	// wg counts interaction work still running after its first answer.
	wg sync.WaitGroup
}

// New returns a Bot; Run starts the gateway, Handler serves HTTP interactions.
func New(o Options) (*Bot, error) {
	if o.Service == nil {
		return nil, errors.New("discordbot: no service")
	}
	if o.APIURL == "" {
		o.APIURL = "https://discord.com/"
	}
	base, err := url.Parse(o.APIURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("discordbot: api url %q: want http(s)://host/", o.APIURL)
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.AckBudget, 1500*time.Millisecond)
	def(&o.TokenLifetime, 14*time.Minute)
	def(&o.ReadyTimeout, 30*time.Second)
	def(&o.StallTimeout, 150*time.Second)
	def(&o.WatchdogTick, o.ReadyTimeout/6)
	def(&o.Backoff, time.Second)
	b := &Bot{o: o, svc: o.Service, log: o.Logger, base: base, seen: chat.NewSeen(20*time.Minute, 1<<16),
		replays: chat.NewReplays(o.Replays, 2*signatureTolerance+time.Minute, 1<<16), flows: newFlows(),
		prompts: &prompts{m: map[string]target{}}}
	// A burst of interactions answers through many REST calls at once: keep
	// enough connections to Discord open (the default keeps two).
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	b.transport = t
	b.follow = chat.NewFollower(chat.FollowerOptions{Messenger: &messenger{b: b, moved: map[string]string{}},
		MinGap: o.ProgressGap, Logger: o.Logger})
	if b.rest, err = b.newSession(nil); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Bot) now() time.Time { return b.o.Now() }

// newSession builds a discordgo session whose REST calls and gateway dials go
// to the configured base URL; c, when set, is the gateway connection it
// serves (its transport refuses once c is abandoned).
func (b *Bot) newSession(c *conn) (*discordgo.Session, error) {
	token := ""
	if b.o.Token != "" {
		token = "Bot " + b.o.Token
	}
	s, err := discordgo.New(token)
	if err != nil {
		return nil, fmt.Errorf("discordbot: new session: %w", err)
	}
	s.Client = &http.Client{Timeout: 20 * time.Second, Transport: &rewrite{base: b.base, conn: c, next: b.transport}}
	s.StateEnabled = false
	s.Compress = b.o.Compress
	s.Identify.Compress = b.o.Compress
	s.Identify.Intents = discordgo.IntentsNone
	s.ShouldReconnectVoiceOnSessionError = false
	return s, nil
}

// rewrite sends requests for https://discord.com/ to the configured base,
// leaving discordgo's endpoint variables alone.
type rewrite struct {
	base *url.URL
	conn *conn
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.conn != nil && t.conn.abandoned.Load() {
		return nil, errAbandoned
	}
	if r.URL.Host != "discord.com" || (t.base.Host == "discord.com" && t.base.Scheme == "https" && t.base.Path == "/") {
		return t.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = t.base.Scheme, t.base.Host
	r.URL.Path = t.base.Path + strings.TrimPrefix(r.URL.Path, "/")
	if r.URL.RawPath != "" {
		r.URL.RawPath = t.base.EscapedPath() + strings.TrimPrefix(r.URL.RawPath, "/")
	}
	r.Host = ""
	return t.next.RoundTrip(r)
}

var errAbandoned = errors.New("discordbot: session abandoned by the watchdog")

// target is where a job started from Discord reports: the interaction's
// token (for 15 minutes) and its channel (with the bot token after that).
type target struct {
	Channel string
	Token   string
	Created time.Time
	ID      string // the interaction's id ("" in targets stored before v2)
}

// Reply target forms: v2 is "discord:v2:<channel>:<created ms>:<interaction
// id>" with the token as its expiring part (commands.ExpiringTarget: the
// store wipes it once Discord no longer takes it); v1, stored before, is
// "discord:v1:<channel>:<created ms>:<token>" (0022 wiped their tokens).
const (
	targetPrefix   = "discord:v2:"
	targetPrefixV1 = "discord:v1:"
	// tokenLife is how long Discord takes an interaction token.
	tokenLife = 15 * time.Minute
)

// encodeTarget writes a target as a commands.Request's ReplyTarget.
func encodeTarget(t target) string {
	durable := targetPrefix + t.Channel + ":" + strconv.FormatInt(t.Created.UnixMilli(), 10) + ":" + t.ID
	return commands.ExpiringTarget(durable, t.Token, t.Created.Add(tokenLife))
}

// decodeTarget reads a target; a wiped token is "".
func decodeTarget(s string) (target, bool) {
	durable, token, _ := commands.ParseTarget(s)
	prefix := targetPrefix
	if strings.HasPrefix(durable, targetPrefixV1) {
		prefix = targetPrefixV1
	}
	rest, ok := strings.CutPrefix(durable, prefix)
	if !ok {
		return target{}, false
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) != 3 {
		return target{}, false
	}
	ms, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return target{}, false
	}
	t := target{Channel: parts[0], Created: time.UnixMilli(ms), Token: token, ID: parts[2]}
	if prefix == targetPrefixV1 {
		t.Token, t.ID = parts[2], ""
	}
	return t, true
}

// key names the target's interaction whether or not its token was wiped.
func (t target) key() string {
	return t.Channel + ":" + strconv.FormatInt(t.Created.UnixMilli(), 10) + ":" + t.ID
}

// redact removes the bot token and interaction tokens from an error: URLs
// in transport errors carry them.
func (b *Bot) redact(err error, tokens ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, t := range append(tokens, b.o.Token) {
		if t != "" {
			msg = strings.ReplaceAll(msg, t, "<redacted>")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Wait waits for interaction work still running, until ctx ends.
func (b *Bot) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
