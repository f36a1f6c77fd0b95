package slackbot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/slackbot/slacktest"
	"github.com/clorebot/clorebot/commands"
)

// Acknowledged job commands are stored by the intake workers without
// waiting on Slack: when chat.postMessage is rate-limited (429,
// Retry-After), the progress messages wait, the jobs do not. Slack will
// never redeliver an acknowledged command, so one not yet handed to the
// command layer would be lost by a crash.
func TestJobCreationDoesNotWaitOnSlackRateLimit(t *testing.T) {
	var mu sync.Mutex
	handled := map[string]time.Time{}
	svc := &stubService{fn: func(r commands.Request) commands.Reply {
		mu.Lock()
		if !strings.HasPrefix(r.Text, "rent") {
			mu.Unlock()
			return commands.Reply{Status: commands.StatusOK, Text: "help", Visibility: commands.Ephemeral, Done: true}
		}
		handled[r.Text] = time.Now()
		n := len(handled)
		mu.Unlock()
		// What the command layer answers once the job is stored: its first progress.
		return commands.Reply{Status: commands.StatusQueued, Text: "Renting…", JobID: fmt.Sprintf("job%d", n), Visibility: commands.Public}
	}}
	_, fake := startBot(t, svc, nil)
	if !fake.WaitConnected(1, wait) {
		t.Fatal("not connected")
	}
	if err := fake.Send(slacktest.Envelope("warm", "slash_commands", fake.Slash("U1", "C1", "help", "trig-warm"), 0)); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.WaitAck("warm", wait); !ok {
		t.Fatal("warm-up not acknowledged")
	}
	fake.RateLimit("chat.postMessage", 6) // Retry-After: 1 s each
	const n = 8
	start := time.Now()
	for i := range n {
		env := fmt.Sprintf("env-rent-%d", i)
		if err := fake.Send(slacktest.Envelope(env, "slash_commands",
			fake.Slash("U1", "C1", fmt.Sprintf("rent 4090 --hours %d", i+1), "trig-"+env), 0)); err != nil {
			t.Fatal(err)
		}
		if _, ok := fake.WaitAck(env, wait); !ok {
			t.Fatalf("%s not acknowledged", env)
		}
	}
	acked := time.Since(start)
	fake.Wait(wait, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == n
	})
	mu.Lock()
	var last time.Duration
	for _, at := range handled {
		last = max(last, at.Sub(start))
	}
	got := len(handled)
	mu.Unlock()
	if got != n || last > acked+time.Second {
		t.Fatalf("all %d rents acknowledged within %s, but the command layer saw %d of them, the last %s after the first ack: job creation waited on Slack's chat.postMessage rate limit (six 429s, Retry-After 1 s)",
			n, acked.Round(time.Millisecond), got, last.Round(time.Millisecond))
	}
}

// In HTTP mode a command acknowledged (200) just before a shutdown still
// reaches the command layer under a live context, before Run returns:
// storage.Intake never writes a unit whose context is cancelled.
func TestHTTPModeRentHandledAfterShutdownStarts(t *testing.T) {
	secret := strings.Repeat("s3", 16)
	proceed := make(chan struct{})
	ctxErr := make(chan error, 1)
	fake := slacktest.New(slacktest.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	b := New(Options{BotToken: botToken, SigningSecret: secret, APIURL: fake.APIURL(),
		Service: cancelProbeService{proceed: proceed, seen: ctxErr}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	srv := httptest.NewServer(b.CommandsHandler())
	defer srv.Close()
	form := url.Values{"team_id": {"T1"}, "api_app_id": {"A1"}, "user_id": {"U1"}, "user_name": {"alice"}, "channel_id": {"C1"}, "command": {"/clore"},
		"text": {"rent 4090"}, "trigger_id": {"t1"}, "response_url": {fake.ResponseURL("h1")}}
	body := form.Encode()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	req.Header = sign(secret, time.Now().Unix(), body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ack %d", resp.StatusCode)
	}
	cancel() // SIGTERM right after the acknowledgement
	close(proceed)
	<-done
	if err := <-ctxErr; err != nil {
		t.Fatalf("the acknowledged rent reached the command layer with a cancelled context (%v): its job may never be written", err)
	}
}

// cancelProbeService reports the context's state when a rent reaches it.
type cancelProbeService struct {
	proceed chan struct{}
	seen    chan error
}

func (s cancelProbeService) Handle(ctx context.Context, r commands.Request) commands.Reply {
	<-s.proceed
	s.seen <- ctx.Err()
	return commands.Reply{Status: commands.StatusQueued, Text: "Renting…", JobID: "job1", Visibility: commands.Public}
}

// the same for a Socket Mode click (Cancel, Rent now, Extend): the
// envelope is acknowledged, then the click is handled under the bot's
// lifetime context; a shutdown right after the ack hands the command layer
// a cancelled context.
func TestReviewClickHandledUnderACancelledContext(t *testing.T) {
	proceed := make(chan struct{})
	ctxErr := make(chan error, 1)
	fake := slacktest.New(slacktest.Options{AppToken: appToken, BotToken: botToken, PingEvery: 50 * time.Millisecond})
	t.Cleanup(fake.Close)
	b := New(Options{AppToken: appToken, BotToken: botToken, APIURL: fake.APIURL(), PingTimeout: 400 * time.Millisecond,
		Service: cancelProbeService{proceed: proceed, seen: ctxErr}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	if !fake.WaitConnected(1, wait) {
		t.Fatal("not connected")
	}
	if err := fake.Send(slacktest.Envelope("env-click", "interactive", fake.Click("U1", "C1", "1700000000.000100", "cancel:1940004", "", "trig-click"), 0)); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.WaitAck("env-click", wait); !ok {
		t.Fatal("click not acknowledged")
	}
	cancel() // SIGTERM right after the acknowledgement
	close(proceed)
	<-done
	if err := <-ctxErr; err != nil {
		t.Fatalf("the acknowledged Cancel click reached the command layer with a cancelled context (%v): the cancel job is never written", err)
	}
}

// A click (Cancel, Rent now) acknowledged just before a shutdown, in Socket
// Mode and in HTTP mode, still reaches the command layer under a live
// context before Run returns: the acknowledged Cancel is never lost while
// the GPU keeps billing.
func TestClickHandledAfterShutdownStarts(t *testing.T) {
	for _, mode := range []string{"socket", "http"} {
		t.Run(mode, func(t *testing.T) {
			secret := strings.Repeat("s3", 16)
			proceed := make(chan struct{})
			ctxErr := make(chan error, 1)
			fake := slacktest.New(slacktest.Options{AppToken: appToken, BotToken: botToken})
			t.Cleanup(fake.Close)
			// The workspace configured: a click may come before auth.test
			// answered (an unknown workspace is refused until it does).
			o := Options{BotToken: botToken, APIURL: fake.APIURL(), TeamID: "T1", Service: cancelProbeService{proceed: proceed, seen: ctxErr}}
			if mode == "socket" {
				o.AppToken = appToken
			} else {
				o.SigningSecret = secret
			}
			b := New(o)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- b.Run(ctx) }()
			click := fake.Click("U1", "C1", "1700000000.000100", "cancel:1940001", "1940001", "trig-c")
			if mode == "socket" {
				if !fake.WaitConnected(1, wait) {
					t.Fatal("not connected")
				}
				if err := fake.Send(slacktest.Envelope("env-click", "interactive", click, 0)); err != nil {
					t.Fatal(err)
				}
				if _, ok := fake.WaitAck("env-click", wait); !ok {
					t.Fatal("click not acknowledged")
				}
			} else {
				srv := httptest.NewServer(b.InteractivityHandler())
				defer srv.Close()
				raw, err := json.Marshal(click)
				if err != nil {
					t.Fatal(err)
				}
				body := url.Values{"payload": {string(raw)}}.Encode()
				req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
				req.Header = sign(secret, time.Now().Unix(), body)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("ack %d", resp.StatusCode)
				}
			}
			cancel() // SIGTERM right after the acknowledgement
			close(proceed)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-ctxErr:
				if err != nil {
					t.Fatalf("the acknowledged click reached the command layer with a cancelled context (%v)", err)
				}
			default:
				t.Fatal("the acknowledged click never reached the command layer before Run returned")
			}
		})
	}
}

// After Run has returned, an HTTP-mode command is refused with 503 at once:
// it is never handed to a bot that will not run it (the request would
// otherwise hang until the client gives up, with a 200 it might then get
// from nobody).
func TestHTTPModeCommandAfterStopIsRefused(t *testing.T) {
	secret := strings.Repeat("s3", 16)
	fake := slacktest.New(slacktest.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	b := New(Options{BotToken: botToken, SigningSecret: secret, APIURL: fake.APIURL(), Service: &stubService{}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.CommandsHandler())
	defer srv.Close()
	body := url.Values{"team_id": {"T1"}, "api_app_id": {"A1"}, "user_id": {"U1"}, "channel_id": {"C1"}, "command": {"/clore"}, "text": {"help"},
		"trigger_id": {"t2"}, "response_url": {fake.ResponseURL("h2")}}.Encode()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	req.Header = sign(secret, time.Now().Unix(), body)
	c, stop := context.WithTimeout(context.Background(), wait)
	defer stop()
	resp, err := http.DefaultClient.Do(req.WithContext(c))
	if err != nil {
		t.Fatalf("no answer after the bot stopped: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d after the bot stopped; want 503", resp.StatusCode)
	}
}
