package discordbot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
)

// conn is one discordgo gateway session and what the watchdog knows of it.
// discordgo's own reconnect loop is off: it cannot be stopped once a session
// is abandoned. Instead, when discordgo closes the socket (op 7, a dropped
// socket, five missed heartbeat ACKs) it reports a disconnect and the
// supervisor calls Open again, which RESUMEs with the session id and
// sequence discordgo kept; op 9 discordgo answers itself with a new
// IDENTIFY on the same socket. The watchdog replaces the whole session when
// that machinery is stuck (bwmarrin/discordgo#513: Open can deadlock, or
// wait forever for READY).
type conn struct {
	gen int
	s   *discordgo.Session

	openedAt  atomic.Int64 // unix nanos when the last Open started
	readyAt   atomic.Int64 // unix nanos of the last READY or RESUMED; 0 before
	connected atomic.Bool  // between READY/RESUMED and a disconnect
	abandoned atomic.Bool
	disc      chan struct{} // a disconnect happened

	mu  sync.Mutex
	raw []net.Conn // sockets dialled, closed when abandoned
}

// Run keeps a gateway session open until ctx ends: it registers /clore,
// opens a session, reopens it after a disconnect, and replaces a session the
// watchdog finds stuck. With no bot token it only waits (HTTP interactions
// need no gateway). Once ctx ends it waits, at most Options.Drain, for the
// interaction work still running (Wait).
func (b *Bot) Run(ctx context.Context) error {
	err := b.serveGateway(ctx)
	if b.o.Drain > 0 {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.o.Drain)
		defer cancel()
		_ = b.Wait(wctx)
	}
	return err
}

// serveGateway is Run until ctx ends: the job-message follower and command
// registration in every process, the gateway session only while this
// process leads (Options.Terms).
func (b *Bot) serveGateway(ctx context.Context) error {
	followed := make(chan error, 1)
	go func() { followed <- b.follow.Run(ctx) }()
	defer func() { <-followed }()
	if b.o.Token == "" {
		<-ctx.Done()
		return nil
	}
	go b.registerLoop(ctx)
	if !waitFor(ctx, b.o.ConnectAfter) {
		return nil
	}
	if b.o.Terms == nil {
		return b.runGateway(ctx)
	}
	for {
		term, err := b.o.Terms.NextTerm(ctx)
		if err != nil {
			return nil // ctx ended
		}
		b.log.LogAttrs(ctx, slog.LevelInfo, "discord gateway: this process leads; connecting")
		tctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(term, cancel)
		err = b.runGateway(tctx)
		stop()
		cancel()
		if err != nil || ctx.Err() != nil {
			return err
		}
		b.log.LogAttrs(ctx, slog.LevelInfo, "discord gateway closed: this process no longer leads")
	}
}

// runGateway keeps a gateway session, reconnecting, until ctx ends.
func (b *Bot) runGateway(ctx context.Context) error {
	backoff := b.o.Backoff
	for gen := 1; ctx.Err() == nil; gen++ {
		c, err := b.newConn(ctx, gen)
		if err != nil {
			return err
		}
		reason := b.supervise(ctx, c)
		if ctx.Err() != nil {
			b.shutdown(c)
			return nil
		}
		b.log.LogAttrs(ctx, slog.LevelWarn, "discord gateway session abandoned", slog.Int("session", gen), slog.String("reason", reason))
		b.abandon(c)
		if c.readyAt.Load() != 0 {
			backoff = b.o.Backoff
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Minute)
	}
	return nil
}

// waitFor waits until gate is closed (true; at once for a nil gate) or ctx
// ends (false).
func waitFor(ctx context.Context, gate <-chan struct{}) bool {
	if gate == nil {
		return true
	}
	select {
	case <-gate:
		return true
	case <-ctx.Done():
		return false
	}
}

// registerLoop registers /clore, retrying with backoff until it succeeds.
func (b *Bot) registerLoop(ctx context.Context) {
	wait := b.o.Backoff
	for {
		err := b.register(ctx)
		if err == nil {
			b.log.LogAttrs(ctx, slog.LevelInfo, "discord command registered", slog.String("command", "/"+CommandName),
				slog.Int("guilds", len(b.o.GuildIDs)))
			return
		}
		b.log.LogAttrs(ctx, slog.LevelError, "discord command registration failed", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Minute)
	}
}

// newConn builds a session with its handlers; supervise opens it.
func (b *Bot) newConn(ctx context.Context, gen int) (*conn, error) {
	c := &conn{gen: gen, disc: make(chan struct{}, 1)}
	s, err := b.newSession(c)
	if err != nil {
		return nil, err
	}
	c.s = s
	s.ShouldReconnectOnError = false // the supervisor reopens; see conn
	s.SyncEvents = true              // connection state in order; interactions get their own goroutine
	s.Dialer = &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 10 * time.Second, NetDialContext: c.dial}
	s.AddHandler(func(_ *discordgo.Session, _ *discordgo.Ready) { c.alive() })
	s.AddHandler(func(_ *discordgo.Session, _ *discordgo.Resumed) { c.alive() })
	s.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) {
		c.connected.Store(false)
		select {
		case c.disc <- struct{}{}:
		default:
		}
	})
	s.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
		if c.abandoned.Load() || ic.Interaction == nil || !b.seen.First(ic.ID, b.now()) {
			return
		}
		i := ic.Interaction
		b.wg.Go(func() { b.handle(context.WithoutCancel(ctx), i, b.gatewayResponder(i)) })
	})
	b.mu.Lock()
	b.conn = c
	b.mu.Unlock()
	return c, nil
}

// supervise opens the session, reopens it after each disconnect (with
// backoff while opening fails), and returns why the session must be
// abandoned, or "" when ctx ended.
func (b *Bot) supervise(ctx context.Context, c *conn) string {
	tick := time.NewTicker(b.o.WatchdogTick)
	defer tick.Stop()
	opened := make(chan error, 1)
	open := func() {
		c.openedAt.Store(time.Now().UnixNano())
		go func() { opened <- c.s.Open() }()
	}
	var retry <-chan time.Time
	backoff := b.o.Backoff
	open()
	for {
		select {
		case <-ctx.Done():
			return ""
		case err := <-opened:
			if err != nil && !errors.Is(err, discordgo.ErrWSAlreadyOpen) {
				b.log.LogAttrs(ctx, slog.LevelWarn, "discord gateway open failed", slog.Int("session", c.gen),
					slog.Any("error", b.redact(err)), slog.Duration("retry_in", backoff))
				retry = time.After(backoff)
				backoff = min(2*backoff, 2*time.Minute)
			}
		case <-c.disc:
			if c.abandoned.Load() {
				continue
			}
			b.log.LogAttrs(ctx, slog.LevelInfo, "discord gateway disconnected, resuming", slog.Int("session", c.gen))
			retry = time.After(b.o.Backoff)
		case <-retry:
			retry = nil
			open()
		case <-tick.C:
			if reason := b.stuck(c); reason != "" {
				return reason
			}
			if c.connected.Load() {
				backoff = b.o.Backoff
			}
		}
	}
}

// stuck is the watchdog's verdict: an Open that saw no READY or RESUMED in
// time, or a connected session with no READY, RESUMED or heartbeat ACK for
// too long.
func (b *Bot) stuck(c *conn) string {
	now := time.Now()
	opened, ready := c.openedAt.Load(), c.readyAt.Load()
	if opened > ready && now.Sub(time.Unix(0, opened)) > b.o.ReadyTimeout {
		return fmt.Sprintf("no READY or RESUMED within %v of opening", b.o.ReadyTimeout)
	}
	if c.connected.Load() && now.Sub(c.lastSign()) > b.o.StallTimeout {
		return fmt.Sprintf("no READY, RESUMED or heartbeat ACK for %v", b.o.StallTimeout)
	}
	return ""
}

// gatewayResponder answers an interaction with a REST callback.
func (b *Bot) gatewayResponder(i *discordgo.Interaction) responder {
	return func(ctx context.Context, resp *discordgo.InteractionResponse, opts ...discordgo.RequestOption) error {
		opts = append([]discordgo.RequestOption{discordgo.WithContext(ctx)}, opts...)
		return b.redact(b.rest.InteractionRespond(i, resp, opts...), i.Token)
	}
}

func (c *conn) alive() {
	c.readyAt.Store(time.Now().UnixNano())
	c.connected.Store(true)
}

// dial opens the gateway's socket, remembering it so that abandon can close it.
func (c *conn) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.abandoned.Load() {
		return nil, errAbandoned
	}
	nc, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.raw = append(c.raw, nc)
	c.mu.Unlock()
	return nc, nil
}

// lastSign is the latest READY, RESUMED or heartbeat ACK. The ACK time is
// read only when the session's lock is free: a session stuck in Open holds
// it, and then only READY counts.
func (c *conn) lastSign() time.Time {
	last := time.Unix(0, c.readyAt.Load())
	if c.s.TryRLock() {
		ack := c.s.LastHeartbeatAck
		c.s.RUnlock()
		if ack.After(last) {
			last = ack
		}
	}
	return last
}

// abandon stops a session without waiting on it: its sockets are closed
// (unblocking a read stuck in Open), its transport and dialer refuse from
// now on, and Close runs in the background unless the session's lock is
// held (a deadlocked session never gives it back).
func (b *Bot) abandon(c *conn) {
	c.abandoned.Store(true)
	c.connected.Store(false)
	c.mu.Lock()
	for _, nc := range c.raw {
		_ = nc.Close()
	}
	c.mu.Unlock()
	if c.s.TryLock() {
		c.s.Unlock()
		go func() { _ = c.s.Close() }()
	}
}

// shutdown closes a session cleanly at the end of Run, waiting a little.
func (b *Bot) shutdown(c *conn) {
	c.abandoned.Store(true)
	done := make(chan struct{})
	go func() { _ = c.s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		b.abandon(c)
	}
	c.connected.Store(false)
}

// ErrNotReady is Ready's answer while no gateway session has seen READY.
var ErrNotReady = errors.New("discordbot: gateway not ready")

// Ready reports whether the gateway session is connected (READY or RESUMED
// seen, not disconnected since), for /readyz. Without a bot token the
// gateway is not used and Ready is nil.
func (b *Bot) Ready(context.Context) error {
	if b.o.Token == "" {
		return nil
	}
	if b.o.Terms != nil {
		if _, leading := b.o.Terms.Term(); !leading {
			return nil // the leader holds the gateway; this process serves HTTP
		}
	}
	b.mu.Lock()
	c := b.conn
	b.mu.Unlock()
	if c == nil || c.abandoned.Load() || !c.connected.Load() {
		return ErrNotReady
	}
	return nil
}
