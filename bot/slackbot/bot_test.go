package slackbot

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/clorebot/clorebot/bot/slackbot/slacktest"
	"github.com/clorebot/clorebot/commands"
)

var (
	appToken = strings.Join([]string{"xapp", "1", "A1", "unit"}, "-")
	botToken = strings.Join([]string{"xoxb", "1", "unit"}, "-")
)

const wait = 15 * time.Second

// stubService answers every command with help and records the requests.
type stubService struct {
	mu   sync.Mutex
	reqs []commands.Request
	fn   func(commands.Request) commands.Reply
}

func (s *stubService) Handle(_ context.Context, req commands.Request) commands.Reply {
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	fn := s.fn
	s.mu.Unlock()
	if fn != nil {
		return fn(req)
	}
	return commands.Reply{Status: commands.StatusOK, Title: "clorebot help", Text: "help for " + req.Text, Visibility: commands.Ephemeral, Done: true}
}

func (s *stubService) requests() []commands.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]commands.Request(nil), s.reqs...)
}

// startBot runs a Bot against a fake Slack with a short ping timeout.
func startBot(t *testing.T, svc *stubService, tweak func(*Options)) (*Bot, *slacktest.Server) {
	t.Helper()
	fake := slacktest.New(slacktest.Options{AppToken: appToken, BotToken: botToken, PingEvery: 50 * time.Millisecond})
	t.Cleanup(fake.Close)
	o := Options{AppToken: appToken, BotToken: botToken, APIURL: fake.APIURL(), Service: svc,
		PingTimeout: 400 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, EditGap: 200 * time.Millisecond}
	if tweak != nil {
		tweak(&o)
	}
	b := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return b, fake
}

// helpRoundTrip sends /clore help and checks that its ack carries the answer.
func helpRoundTrip(t *testing.T, fake *slacktest.Server, env string) {
	t.Helper()
	if err := fake.Send(slacktest.Envelope(env, "slash_commands", fake.Slash("U1", "C1", "help", "trig-"+env), 0)); err != nil {
		t.Fatalf("send %s: %v", env, err)
	}
	a, ok := fake.WaitAck(env, wait)
	if !ok || !strings.Contains(string(a.Payload), "help for help") {
		t.Fatalf("%s: ack %q, %v", env, a.Payload, ok)
	}
}

func TestReconnectsAndServesAfterwards(t *testing.T) {
	svc := &stubService{}
	b, fake := startBot(t, svc, nil)
	if !fake.WaitConnected(1, wait) {
		t.Fatal("never connected")
	}
	helpRoundTrip(t, fake, "e1")

	if err := fake.Disconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	if !fake.WaitConnected(2, wait) {
		t.Fatalf("no reconnect after a disconnect envelope (opens %d)", fake.Opens())
	}
	helpRoundTrip(t, fake, "e2")

	fake.CloseAbruptly()
	if !fake.WaitConnected(3, wait) {
		t.Fatalf("no reconnect after an abrupt close (opens %d)", fake.Opens())
	}
	helpRoundTrip(t, fake, "e3")

	fake.StopPings(true)
	if !fake.WaitConnected(4, wait) {
		t.Fatalf("no reconnect after missed pings (opens %d)", fake.Opens())
	}
	fake.StopPings(false)
	helpRoundTrip(t, fake, "e4")
	if err := b.Ready(context.Background()); err != nil {
		t.Errorf("Ready after reconnecting: %v", err)
	}
}

func TestNotReadyUntilConnected(t *testing.T) {
	svc := &stubService{}
	fake := slacktest.New(slacktest.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	fake.RefuseOpens(true)
	b := New(Options{AppToken: appToken, BotToken: botToken, APIURL: fake.APIURL(), Service: svc})
	if b.Ready(context.Background()) == nil {
		t.Fatal("ready before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if !fake.WaitOpenAttempts(2, wait) {
		t.Fatal("the client never tried to connect")
	}
	if b.Ready(context.Background()) == nil {
		t.Error("ready while apps.connections.open fails")
	}
	fake.RefuseOpens(false)
	if !fake.WaitConnected(1, wait) {
		t.Fatal("never connected")
	}
	// Events are read in order: once an envelope is acknowledged, the
	// "connected" event before it was seen.
	if err := fake.Send(slacktest.Envelope("after-connect", "slash_commands", fake.Slash("U1", "C1", "help", "t1"), 0)); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.WaitAck("after-connect", wait); !ok {
		t.Fatal("no ack once connected")
	}
	if err := b.Ready(context.Background()); err != nil {
		t.Errorf("not ready once connected: %v", err)
	}
}

func TestRedeliveredEnvelopeActsOnce(t *testing.T) {
	svc := &stubService{}
	_, fake := startBot(t, svc, nil)
	if !fake.WaitConnected(1, wait) {
		t.Fatal("never connected")
	}
	env := slacktest.Envelope("dup", "slash_commands", fake.Slash("U1", "C1", "help", "trig-dup"), 0)
	for range 2 {
		if err := fake.Send(env); err != nil {
			t.Fatal(err)
		}
	}
	retry := slacktest.Envelope("dup", "slash_commands", fake.Slash("U1", "C1", "help", "trig-dup"), 1)
	if err := fake.Send(retry); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.WaitAcks("dup", 3, wait)); n != 3 {
		t.Errorf("%d acks, want every delivery acknowledged (3)", n)
	}
	if n := len(svc.requests()); n != 1 {
		t.Errorf("handled %d times, want once", n)
	}
	// A retry under a new envelope id carries the trigger's idempotency key.
	if err := fake.Send(slacktest.Envelope("dup-2", "slash_commands", fake.Slash("U1", "C1", "help", "trig-dup"), 1)); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.WaitAck("dup-2", wait); !ok {
		t.Fatal("retry not acknowledged")
	}
	reqs := svc.requests()
	if len(reqs) != 2 || reqs[0].IdempotencyKey != reqs[1].IdempotencyKey || reqs[0].IdempotencyKey != "slack:cmd:trig-dup" {
		t.Errorf("keys = %+v; want both slack:cmd:trig-dup", reqs)
	}
	if reqs[0].User != "slack:U1" || reqs[0].Platform != commands.PlatformSlack {
		t.Errorf("request identity = %q on %q", reqs[0].User, reqs[0].Platform)
	}
}

// A burst of progress updates of one job makes one message, edited a few
// times (coalesced), ending on the last state; a 429 is waited out.
func TestProgressCoalescedAndRateLimited(t *testing.T) {
	b, fake := startBot(t, &stubService{}, func(o *Options) { o.AppToken = "" })
	fake.RateLimit("chat.postMessage", 1)
	target := commands.Target{Platform: commands.PlatformSlack, User: "slack:U1", ReplyTarget: dest{Channel: "C1", User: "U1"}.encode()}
	ctx := context.Background()
	start := time.Now()
	for i := range 30 {
		ref, err := b.Notify(ctx, target, commands.Reply{Status: commands.StatusRunning, Text: fmt.Sprintf("step %d", i), JobID: "job1", Visibility: commands.Public})
		if err != nil {
			t.Fatal(err)
		}
		target.Ref = ref
	}
	if time.Since(start) < time.Second {
		t.Errorf("the 429's Retry-After (1 s) was not waited out")
	}
	msgs, ok := fake.WaitMessages(wait, func(ms []slacktest.Message) bool { return len(ms) == 1 && ms[0].Text == "step 29" })
	if !ok {
		t.Fatalf("messages = %+v", msgs)
	}
	if n := fake.Calls("chat.update"); n > 5 {
		t.Errorf("%d chat.update calls for 30 updates; want them coalesced", n)
	}
	if n := fake.Calls("chat.postMessage"); n != 2 {
		t.Errorf("chat.postMessage calls = %d, want the 429 and one post", n)
	}
}

// sign signs body as Slack does, at ts.
func sign(secret string, ts int64, body string) http.Header {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:%s", ts, body)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

func TestHTTPModeSignatures(t *testing.T) {
	secret := strings.Repeat("s3", 16)
	svc := &stubService{}
	b, fake := startBot(t, svc, func(o *Options) { o.AppToken, o.SigningSecret = "", secret })
	srv := httptest.NewServer(b.CommandsHandler())
	defer srv.Close()
	form := url.Values{"team_id": {"T1"}, "api_app_id": {"A1"}, "user_id": {"U1"}, "user_name": {"alice"}, "channel_id": {"C1"}, "command": {"/clore"},
		"text": {"help"}, "trigger_id": {"t1"}, "response_url": {fake.ResponseURL("h1")}}
	body := form.Encode()
	now := time.Now().Unix()
	post := func(h http.Header, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(got)
	}
	wrong := sign(secret, now, body)
	wrong.Set("X-Slack-Signature", "v0="+strings.Repeat("0", 64))
	missing := sign(secret, now, body)
	missing.Del("X-Slack-Signature")
	tests := []struct {
		name string
		h    http.Header
		body string
		code int
	}{
		{"wrong", wrong, body, http.StatusUnauthorized},
		{"stale", sign(secret, now-6*60, body), body, http.StatusUnauthorized},
		{"future", sign(secret, now+6*60, body), body, http.StatusUnauthorized},
		{"missing", missing, body, http.StatusUnauthorized},
		{"other secret", sign("not-the-secret", now, body), body, http.StatusUnauthorized},
		{"body changed", sign(secret, now, body), strings.Replace(body, "help", "rent+h100", 1), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _ := post(tt.h, tt.body); code != tt.code {
				t.Errorf("status %d, want %d", code, tt.code)
			}
		})
	}
	if n := len(svc.requests()); n != 0 {
		t.Fatalf("refused requests reached the command layer %d times", n)
	}
	valid := sign(secret, now, body)
	code, got := post(valid, body)
	if code != http.StatusOK || !strings.Contains(got, "help for help") || !strings.Contains(got, `"response_type":"ephemeral"`) {
		t.Errorf("valid: %d %s", code, got)
	}
	if code, got := post(valid, body); code != http.StatusOK || got != "" {
		t.Errorf("replayed: %d %q; want 200 and nothing", code, got)
	}
	if n := len(svc.requests()); n != 1 {
		t.Errorf("handled %d times, want once (the replay is not acted on)", n)
	}
}

// Connection details go to the requester alone: an ephemeral message in
// the channel, or — when the bot is not in the channel and Slack refuses
// the ephemeral — a direct message; never a channel message.
func TestPrivateDetailsFallBackToADirectMessage(t *testing.T) {
	b, fake := startBot(t, &stubService{}, func(o *Options) { o.AppToken = "" })
	fake.NotInChannel("C9")
	secret := "pw-" + strconv.Itoa(int(time.Now().UnixNano()%1000))
	r := commands.Reply{Status: commands.StatusRunning, Text: "Order #7 is running.", JobID: "job7", Visibility: commands.Public, Done: true,
		Private: &commands.PrivatePart{Title: "Connection details", Text: "ssh root@h -p 40022, password " + secret}}
	for _, channel := range []string{"C1", "C9"} {
		target := commands.Target{Platform: commands.PlatformSlack, User: "slack:U1", ReplyTarget: dest{Channel: channel, User: "U1"}.encode()}
		r.JobID = "job-" + channel
		_, err := b.Notify(context.Background(), target, r)
		if channel == "C1" && err != nil {
			t.Fatalf("Notify in C1: %v", err)
		}
		if channel == "C9" && err == nil {
			t.Error("Notify in C9 (bot not a member) reported no error for the public message it could not post")
		}
	}
	eph := fake.Ephemerals()
	if len(eph) != 1 || eph[0].Channel != "C1" || eph[0].User != "U1" || !strings.Contains(string(eph[0].Blocks), secret) {
		t.Errorf("%d ephemerals; want the details once, to U1 in C1", len(eph))
	}
	var dms int
	for _, m := range fake.Messages() {
		switch {
		case m.Channel == "U1" && strings.Contains(string(m.Blocks), secret):
			dms++
		case strings.Contains(m.Text+string(m.Blocks), secret):
			t.Errorf("the password reached channel %s: %q", m.Channel, m.Text)
		}
	}
	if dms != 1 {
		t.Errorf("%d direct messages with the details, want 1 (C9, where the ephemeral was refused)", dms)
	}
}

// Instant commands are answered first come, first served by a few
// workers; the time one waited in the queue counts against its ack budget.
// One that waited the whole budget (the workers all held by slow
// commands) is acknowledged empty at once and answered through the
// response_url: the queue never eats Slack's 3 s.
func TestQueuedCommandKeepsTheAckDeadline(t *testing.T) {
	b, fake := startBot(t, &stubService{}, func(o *Options) { o.AckBudget = time.Hour })
	if !fake.WaitConnected(1, wait) {
		t.Fatal("never connected")
	}
	acks := make(chan any, 2)
	cmd := func(trigger string) slack.SlashCommand {
		return slack.SlashCommand{UserID: "U1", ChannelID: "C1", Text: "help", TriggerID: trigger,
			ResponseURL: fake.ResponseURL("cmd-" + trigger)}
	}
	queued := func(trigger string, at time.Time) instantCommand {
		d, req := commandRequest(cmd(trigger))
		return instantCommand{d: d, req: req, at: at, ack: func(p any) { acks <- p }}
	}
	ctx := context.Background()
	b.queueInstant(ctx, queued("fresh", time.Now()))
	if p := <-acks; p == nil {
		t.Error("a command with its budget left was not answered in its ack")
	}
	b.queueInstant(ctx, queued("stale", time.Now().Add(-time.Hour)))
	if p := <-acks; p != nil {
		t.Errorf("a command that waited its whole budget was acknowledged with %v; want an empty ack", p)
	}
	if _, ok := fake.WaitResponses(wait, func(rs []slacktest.Response) bool {
		return len(rs) == 1 && rs[0].Path == "/response/cmd-stale"
	}); !ok {
		t.Fatalf("no answer through the response_url: %+v", fake.Responses())
	}
}

// ctxService records, for each request, whether its context was alive when
// the command layer finished with it; rents wait for proceed.
type ctxService struct {
	proceed chan struct{}
	mu      sync.Mutex
	alive   []bool
}

func (s *ctxService) Handle(ctx context.Context, req commands.Request) commands.Reply {
	if strings.HasPrefix(req.Text, "rent") {
		<-s.proceed
	}
	s.mu.Lock()
	s.alive = append(s.alive, ctx.Err() == nil)
	s.mu.Unlock()
	return commands.Reply{Status: commands.StatusDenied, Text: "no", Visibility: commands.Ephemeral, Done: true}
}

// A job command is acknowledged at once; a shutdown that comes right after
// still hands every acknowledged one to the command layer, under a live
// context, before Run returns: an acknowledged rent is never silently lost.
func TestShutdownHandlesAcknowledgedJobCommands(t *testing.T) {
	svc := &ctxService{proceed: make(chan struct{})}
	fake := slacktest.New(slacktest.Options{AppToken: appToken, BotToken: botToken, PingEvery: 50 * time.Millisecond})
	t.Cleanup(fake.Close)
	b := New(Options{AppToken: appToken, BotToken: botToken, APIURL: fake.APIURL(), Service: svc})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	if !fake.WaitConnected(1, wait) {
		t.Fatal("never connected")
	}
	const n = 6 // more than the intake workers
	for i := range n {
		id := fmt.Sprintf("rent-%d", i)
		if err := fake.Send(slacktest.Envelope(id, "slash_commands", fake.Slash("U1", "C1", "rent 3090", "t-"+id), 0)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if a, ok := fake.WaitAck(fmt.Sprintf("rent-%d", i), wait); !ok || len(a.Payload) != 0 && string(a.Payload) != "null" {
			t.Fatalf("rent-%d: ack %s, %v; want an empty ack at once", i, a.Payload, ok)
		}
	}
	cancel() // shutdown, with every rent acknowledged and none handled yet
	close(svc.proceed)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if len(svc.alive) != n {
		t.Fatalf("%d of %d acknowledged rents handled before Run returned", len(svc.alive), n)
	}
	for i, ok := range svc.alive {
		if !ok {
			t.Errorf("rent %d handled under a cancelled context", i)
		}
	}
}

// memoryService answers help from memory (chat.MemoryAnswerer) and blocks
// every other command until release is closed.
type memoryService struct {
	stubService
	release chan struct{}
}

func (s *memoryService) AnswerFromMemory(ctx context.Context, req commands.Request) (commands.Reply, bool) {
	if req.Text != "help" {
		return commands.Reply{}, false
	}
	return s.Handle(ctx, req), true
}

func (s *memoryService) Handle(ctx context.Context, req commands.Request) commands.Reply {
	if req.Text != "help" {
		<-s.release
	}
	return s.stubService.Handle(ctx, req)
}

// A command the command layer answers from memory is answered on the
// socket's reader: help is acknowledged with its answer while every
// instant worker is stuck on a slow command (their acks wait on the
// budget, which is an hour here).
func TestHelpAnsweredOnTheReaderWhileWorkersAreBusy(t *testing.T) {
	svc := &memoryService{release: make(chan struct{})}
	_, fake := startBot(t, &svc.stubService, func(o *Options) { o.Service = svc; o.AckBudget = time.Hour })
	defer close(svc.release)
	if !fake.WaitConnected(1, wait) {
		t.Fatal("never connected")
	}
	for i := range instantWorkers + 2 {
		env := fmt.Sprintf("slow%d", i)
		if err := fake.Send(slacktest.Envelope(env, "slash_commands", fake.Slash("U1", "C1", "status", "trig-"+env), 0)); err != nil {
			t.Fatal(err)
		}
	}
	helpRoundTrip(t, fake, "quick")
	if _, ok := fake.WaitAck("slow0", 50*time.Millisecond); ok {
		t.Fatal("a slow command was acknowledged before the command layer answered it")
	}
}

// With ConnectAfter, Socket Mode connects only once it is closed (serve
// closes it once the command layer answers every command); a bot stopped
// before that returns without connecting.
func TestConnectsOnlyAfterConnectAfter(t *testing.T) {
	gate := make(chan struct{})
	b, fake := startBot(t, &stubService{}, func(o *Options) { o.ConnectAfter = gate })
	if fake.WaitOpenAttempts(1, 300*time.Millisecond) {
		t.Fatal("apps.connections.open called before ConnectAfter was closed")
	}
	if b.Ready(context.Background()) == nil {
		t.Error("ready before connecting")
	}
	close(gate)
	if !fake.WaitConnected(1, wait) {
		t.Fatal("not connected once ConnectAfter was closed")
	}
	helpRoundTrip(t, fake, "after-gate")

	// Never opened: Run still returns at once when stopped (startBot's cleanup).
	_, never := startBot(t, &stubService{}, func(o *Options) { o.ConnectAfter = make(chan struct{}) })
	if never.WaitOpenAttempts(1, 100*time.Millisecond) {
		t.Error("a bot whose gate never opens connected")
	}
}
