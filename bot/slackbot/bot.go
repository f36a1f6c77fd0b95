package slackbot

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// Options configures a Bot. BotToken and Service are required; AppToken
// turns Socket Mode on, SigningSecret HTTP mode.
type Options struct {
	AppToken      string // xapp-…: Socket Mode
	BotToken      string // xoxb-…: Web API
	SigningSecret string // HTTP mode
	// TeamID is the workspace served (slack.team_id); empty: the bot
	// token's own, learned with auth.test at start. Requests from any
	// other workspace, app or Enterprise Grid org are refused.
	TeamID string
	// APIURL is the Web API base (default https://slack.com/api/); tests
	// point it at a local fake. A missing trailing slash is added.
	APIURL  string
	Service chat.Handler
	// Jobs, when set, finds a job's message stored with the job, so that a
	// command redelivered after a restart does not post a second one.
	Jobs       chat.JobRefs
	HTTPClient *http.Client
	// AckBudget is how long an acknowledgement waits for the command
	// layer's answer before it goes out empty and the answer follows
	// through the response_url (default 1.5 s; Slack allows 3 s).
	AckBudget time.Duration
	// PingTimeout reconnects when Slack has not pinged for this long
	// (default 30 s).
	PingTimeout time.Duration
	// MinBackoff and MaxBackoff bound the pause before reconnecting after
	// the client gave up (bad token, Slack unreachable): doubling, with
	// jitter (defaults 1 s and 2 min).
	MinBackoff, MaxBackoff time.Duration
	// EditGap spaces two edits of one progress message (default 1 s).
	EditGap time.Duration
	Logger  *slog.Logger
	// ConnectAfter, when set, holds the Socket Mode connection until it is
	// closed: serve closes it once the command layer answers every command
	// (DESIGN.md §7). HTTP mode and job progress do not wait for it.
	ConnectAfter <-chan struct{}
	// Replays, when set, remembers HTTP-mode requests durably, so that a
	// replay to another process on the database, or to this one after a
	// restart, is refused too (memory alone otherwise).
	Replays chat.ReplayStore
}

// seenMax bounds the envelope ids and signatures remembered for dedup.
const seenMax = 1 << 16

// replayKeep is how long an HTTP-mode request is remembered: its
// timestamp may be 5 minutes old or 5 minutes ahead, and a minute more.
const replayKeep = 11 * time.Minute

// Job commands, once acknowledged, are handed to intakeWorkers goroutines
// through a queue of intakeQueue: a burst of rents then keeps a few
// goroutines busy writing jobs (one SQLite writer serialises them anyway)
// instead of hundreds competing for the CPU with the acknowledgements of
// the commands behind them.
const (
	intakeWorkers = 2
	intakeQueue   = 1024
	// intakeDrain bounds the handling of anything acknowledged (a command,
	// a click), and apart from it the delivery of its answer: both run under
	// chat.Detach, so a shutdown overtaking them waits at most this long.
	intakeDrain = 10 * time.Second
	// instantWorkers answer the other commands in the order they came:
	// a burst is answered first come, first acknowledged, instead of
	// every command of it sharing the CPU and all finishing late.
	instantWorkers = 8
)

// instantCommand is a slash command waiting for an instant worker, and
// when it arrived: its wait counts against the ack budget.
type instantCommand struct {
	d   dest
	req commands.Request // parsed once, on arrival (commandRequest)
	at  time.Time
	ack func(payload any) // acknowledges the envelope with the answer
}

// Bot is the Slack front door. Run owns every goroutine it starts.
type Bot struct {
	o         Options
	api       *slack.Client
	msgr      *messenger
	follow    *chat.Follower
	envelopes *chat.Seen    // Socket Mode envelope ids
	replays   *chat.Replays // HTTP mode signed messages
	connected atomic.Bool
	spawn     chan func(context.Context) // unbuffered: taken only by Run's loop
	stopping  chan struct{}              // closed when Run's loop stops taking work
	intake    chan func(context.Context) // acknowledged job commands (intakeWorkers)
	instant   chan instantCommand        // commands answered in their ack (instantWorkers)
	acks      ackCache
	bind      *binding
	wg        sync.WaitGroup
	log       *slog.Logger
}

// New returns a Bot; Run connects it.
func New(o Options) *Bot {
	if o.AckBudget <= 0 {
		o.AckBudget = 1500 * time.Millisecond
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(o.MinBackoff, 2*time.Minute)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	opts := []slack.Option{slack.OptionAppLevelToken(o.AppToken)}
	if o.APIURL != "" {
		if o.APIURL[len(o.APIURL)-1] != '/' {
			o.APIURL += "/"
		}
		opts = append(opts, slack.OptionAPIURL(o.APIURL))
	}
	if o.HTTPClient != nil {
		opts = append(opts, slack.OptionHTTPClient(o.HTTPClient))
	}
	api := slack.New(o.BotToken, opts...)
	b := &Bot{o: o, api: api, msgr: &messenger{api: api, lim: &limiter{notBefore: map[string]time.Time{}}},
		envelopes: chat.NewSeen(15*time.Minute, seenMax), replays: chat.NewReplays(o.Replays, replayKeep, seenMax),
		spawn: make(chan func(context.Context)), stopping: make(chan struct{}), intake: make(chan func(context.Context), intakeQueue),
		instant: make(chan instantCommand, intakeQueue), log: o.Logger, bind: newBinding(o.TeamID)}
	b.follow = chat.NewFollower(chat.FollowerOptions{Messenger: b.msgr, MinGap: o.EditGap, Logger: o.Logger})
	return b
}

// SocketMode reports whether Run connects a Socket Mode socket.
func (b *Bot) SocketMode() bool { return b.o.AppToken != "" }

// Run serves until ctx ends: the Socket Mode connection when an app token
// is set, the progress editor, and the work HTTP mode hands over. It waits
// for the work in flight before it returns.
func (b *Bot) Run(ctx context.Context) error {
	// The progress editor stops last, once the work in flight is done, and
	// then sends the edits that work queued (chat.Follower drains).
	fctx, stopFollower := context.WithCancel(context.WithoutCancel(ctx))
	followed := make(chan struct{})
	go func() { defer close(followed); _ = b.follow.Run(fctx) }()
	defer func() { stopFollower(); <-followed }()
	for range intakeWorkers {
		b.wg.Go(func() { b.runIntake(ctx) })
	}
	for range instantWorkers {
		b.wg.Go(func() { b.runInstant(ctx) })
	}
	if b.o.BotToken != "" {
		b.wg.Go(func() { b.learnWorkspace(ctx) })
	}
	if b.SocketMode() {
		b.wg.Go(func() {
			if !b.waitToConnect(ctx) || !b.waitForWorkspace(ctx) {
				close(b.intake) // the socket's reader never started
				close(b.instant)
				return
			}
			b.runSocket(ctx)
		})
	} else {
		close(b.intake) // only the socket's reader queues commands
		close(b.instant)
	}
	defer b.wg.Wait()
	for {
		select {
		case <-ctx.Done():
			close(b.stopping)
			return nil
		case f := <-b.spawn:
			b.wg.Go(func() { f(ctx) })
		}
	}
}

// waitToConnect waits until Options.ConnectAfter is closed (true; at once
// without one) or ctx ends (false).
func (b *Bot) waitToConnect(ctx context.Context) bool {
	if b.o.ConnectAfter == nil {
		return true
	}
	select {
	case <-b.o.ConnectAfter:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitForWorkspace waits until the served workspace is known (at once
// when slack.team_id is set) or ctx ends (false): the socket's envelopes
// are checked against it.
func (b *Bot) waitForWorkspace(ctx context.Context) bool {
	if b.bind.get().Team != "" {
		return true
	}
	select {
	case <-b.bind.known:
		return true
	case <-ctx.Done():
		return false
	}
}

// runIntake runs queued job commands until the queue is closed (the
// socket's reader is gone) and empty. Each was acknowledged already, so
// each is handled even during a shutdown (jobCommand detaches it from ctx).
func (b *Bot) runIntake(ctx context.Context) {
	for f := range b.intake {
		f(ctx)
	}
}

// runInstant answers queued slash commands in their acknowledgement, until
// the queue is closed and empty. The time a command waited in the queue
// is taken from its ack budget: one that waited the whole budget is
// acknowledged empty at once and answered through the response_url.
func (b *Bot) runInstant(ctx context.Context) {
	for q := range b.instant {
		q.ack(b.commandWithin(ctx, q.d, q.req, b.o.AckBudget-time.Since(q.at)))
	}
}

// queueInstant queues a slash command for the instant workers; when the
// queue is full it is answered on a goroutine of its own.
func (b *Bot) queueInstant(ctx context.Context, q instantCommand) {
	select {
	case b.instant <- q:
	default:
		b.wg.Go(func() { q.ack(b.commandWithin(ctx, q.d, q.req, b.o.AckBudget)) })
	}
}

// queueIntake queues f, the handling of a job command, for the intake
// workers; when the queue is full it runs f on a goroutine of its own
// rather than wait or drop it. It is called before the command is
// acknowledged, on the socket's reader, so that an acknowledged command is
// always handled before Run returns.
func (b *Bot) queueIntake(ctx context.Context, f func(context.Context)) {
	select {
	case b.intake <- f:
	default:
		b.wg.Go(func() { f(ctx) })
	}
}

// goBackground hands f to Run, which runs it on a goroutine it waits for,
// with its lifetime ctx (f detaches what it acknowledges from it); false
// when the bot has stopped or reqCtx ended first, and f will not run.
func (b *Bot) goBackground(reqCtx context.Context, f func(context.Context)) bool {
	select {
	case b.spawn <- f:
		return true
	case <-b.stopping:
		return false
	case <-reqCtx.Done():
		return false
	}
}

// Ready is the readiness probe: an error until the served workspace is
// known (slack.team_id, or auth.test answered) and, in Socket Mode, the
// socket is connected.
func (b *Bot) Ready(context.Context) error {
	if b.bind.get().Team == "" {
		return errors.New("slackbot: workspace not known yet (auth.test has not answered)")
	}
	if b.SocketMode() && !b.connected.Load() {
		return errors.New("slackbot: socket mode not connected")
	}
	return nil
}

// runSocket keeps a Socket Mode connection. slack-go reconnects by itself
// after a disconnect envelope, a closed socket or missed pings; when its
// client gives up (a bad token, Slack unreachable or gone), runSocket waits
// a capped, jittered backoff and starts it again.
func (b *Bot) runSocket(ctx context.Context) {
	sm := socketmode.New(b.api, socketmode.OptionPingInterval(b.o.PingTimeout))
	b.wg.Go(func() {
		defer close(b.instant)
		defer close(b.intake)
		b.readEvents(ctx, sm)
	})
	delay := b.o.MinBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := sm.RunContext(ctx)
		b.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > b.o.MaxBackoff {
			delay = b.o.MinBackoff // it ran well for a while: start afresh
		}
		wait := delay/2 + rand.N(delay/2+1)
		b.log.LogAttrs(ctx, slog.LevelError, "slack socket mode stopped; reconnecting",
			slog.Any("error", err), slog.Duration("backoff", wait))
		if chat.Sleep(ctx, wait) != nil {
			return
		}
		delay = min(delay*2, b.o.MaxBackoff)
	}
}

// readEvents drains the client's events (a stalled reader would stop the
// socket's reads and pings) and hands each envelope to its own goroutine.
func (b *Bot) readEvents(ctx context.Context, sm *socketmode.Client) {
	for {
		select {
		case <-ctx.Done():
			return
		case evt := <-sm.Events:
			b.onEvent(ctx, sm, evt)
		}
	}
}

func (b *Bot) onEvent(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		b.connected.Store(true)
		b.log.LogAttrs(ctx, slog.LevelInfo, "slack socket mode connected")
	case socketmode.EventTypeConnecting, socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError,
		socketmode.EventTypeDisconnect, socketmode.EventTypeInvalidAuth:
		if b.connected.Swap(false) {
			b.log.LogAttrs(ctx, slog.LevelWarn, "slack socket mode disconnected", slog.String("event", string(evt.Type)))
		}
	case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive, socketmode.EventTypeEventsAPI:
		b.onEnvelope(ctx, sm, evt)
	}
}

// onEnvelope acknowledges one envelope. An envelope seen before (Slack
// redelivers when an ack is late or lost) is acknowledged again and
// nothing else happens: the first delivery does the work.
func (b *Bot) onEnvelope(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	req := evt.Request
	if req == nil {
		return
	}
	if !b.envelopes.First(req.EnvelopeID, time.Now()) {
		b.log.LogAttrs(ctx, slog.LevelInfo, "slack envelope redelivered; acknowledged again",
			slog.String("envelope_id", req.EnvelopeID), slog.Int("retry_attempt", req.RetryAttempt))
		b.ack(ctx, sm, *req, nil)
		return
	}
	switch data := evt.Data.(type) {
	case slack.SlashCommand:
		if r := b.foreign(ctx, slashOrigin(data)); r != nil {
			b.ack(ctx, sm, *req, b.now(ctx, dest{}, *r))
			return
		}
		r := *req
		d, creq := commandRequest(data) // parsed here, once: every step below reads that parse
		if chat.AckAtOnce(creq) {
			// A job: acknowledged before anything else happens, its
			// progress follows as a message of its own.
			b.queueIntake(ctx, func(ctx context.Context) { b.jobCommand(ctx, d, creq) })
			b.ack(ctx, sm, r, nil)
			return
		}
		if p, ok := b.fromMemory(ctx, d, creq); ok {
			// Help or a usage error: answered from memory on this
			// goroutine, as a bot with canned answers would.
			b.ack(ctx, sm, r, p)
			return
		}
		b.queueInstant(ctx, instantCommand{d: d, req: creq, at: time.Now(), ack: func(p any) { b.ack(ctx, sm, r, p) }})
	case slack.InteractionCallback:
		b.ack(ctx, sm, *req, nil)
		b.wg.Go(func() { b.click(ctx, data) }) // detached from ctx: acknowledged
	default:
		b.ack(ctx, sm, *req, nil)
	}
}

func (b *Bot) ack(ctx context.Context, sm *socketmode.Client, req socketmode.Request, payload any) {
	payload, then := sentAck(payload)
	defer then()
	var err error
	if payload == nil {
		err = sm.AckCtx(ctx, req.EnvelopeID, nil)
	} else {
		err = sm.AckCtx(ctx, req.EnvelopeID, payload)
	}
	if err != nil && ctx.Err() == nil {
		b.log.LogAttrs(ctx, slog.LevelWarn, "slack ack failed", slog.String("envelope_id", req.EnvelopeID), slog.Any("error", err))
	}
}

var _ commands.Notifier = (*Bot)(nil)
