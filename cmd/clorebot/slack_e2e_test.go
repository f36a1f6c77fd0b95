package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/slackbot/slacktest"
	"github.com/clorebot/clorebot/commands"
)

// Test tokens are built at run time: no token-like literal in the tree.
var (
	testAppToken = strings.Join([]string{"xapp", "1", "A1", "test"}, "-")
	testBotToken = strings.Join([]string{"xoxb", "1", "test"}, "-")
)

const slackWait = 30 * time.Second

// slackApp is `serve --sandbox` in-process with the Slack front door
// pointed at a fake Slack.
type slackApp struct {
	app  *App
	fake *slacktest.Server
	base string
}

// startSlackServe starts the fake Slack and clorebot with Socket Mode (and,
// with a signing secret, HTTP mode). alice and bob rent, ada administers,
// vera views; anyone else has no role.
func startSlackServe(t testing.TB, signingSecret string, before func(*slacktest.Server)) *slackApp {
	t.Helper()
	return startSlackServeConfirming(t, signingSecret, before, 0)
}

// startSlackServeConfirming is startSlackServe with policy.confirm_above
// set: rents above it await a Rent now click.
func startSlackServeConfirming(t testing.TB, signingSecret string, before func(*slacktest.Server), confirmAbove float64) *slackApp {
	t.Helper()
	fake := slacktest.New(slacktest.Options{AppToken: testAppToken, BotToken: testBotToken, PingEvery: 50 * time.Millisecond})
	t.Cleanup(fake.Close)
	if before != nil {
		before(fake)
	}
	return serveSlackIn(t, fake, t.TempDir(), signingSecret, confirmAbove)
}

// serveSlackIn runs clorebot against fake with its database, sandbox state
// and configuration in dir, until the test ends; a second call on the same
// dir is a restart.
func serveSlackIn(t testing.TB, fake *slacktest.Server, dir, signingSecret string, confirmAbove float64) *slackApp {
	t.Helper()
	path := writeSlackConfig(t, fake, dir, signingSecret, confirmAbove)
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("CLOREBOT_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	// Load the snapshots requests answer from, as the first tick does.
	app := runServe(t, path, logger, func(ctx context.Context, app *App) error {
		return errors.Join(app.svc.RefreshMarket(ctx), app.svc.RefreshOrders(ctx))
	})
	return &slackApp{app: app, fake: fake, base: "http://" + app.Addr().String()}
}

// writeSlackConfig writes, in dir, the configuration of `serve --sandbox`
// with Socket Mode against fake (and HTTP mode with a signing secret), and
// returns its path.
func writeSlackConfig(t testing.TB, fake *slacktest.Server, dir, signingSecret string, confirmAbove float64) string {
	t.Helper()
	conf := sandboxConfig(t, dir) + fmt.Sprintf(`servers = 500
[slack]
app_token = %q
bot_token = %q
signing_secret = %q
api_url = %q
[policy]
admins = ["slack:UADA"]
renters = ["slack:UALICE", "slack:UBOB"]
viewers = ["slack:UVERA"]
default_role = "none"
confirm_above = %g
`, testAppToken, testBotToken, signingSecret, fake.APIURL(), confirmAbove)
	path := filepath.Join(dir, "clorebot.toml")
	writeConfig(t, path, conf)
	return path
}

// slash sends a /clore command and returns its ack.
func (s *slackApp) slash(t *testing.T, envelope, user, channel, text string) slacktest.Ack {
	t.Helper()
	if err := s.fake.Send(slacktest.Envelope(envelope, "slash_commands", s.fake.Slash(user, channel, text, "trig-"+envelope), 0)); err != nil {
		t.Fatalf("send %s: %v", envelope, err)
	}
	return s.ack(t, envelope)
}

// click sends a button click on a message and returns its ack.
func (s *slackApp) click(t *testing.T, envelope, user, channel, ts, actionID string) slacktest.Ack {
	t.Helper()
	if err := s.fake.Send(slacktest.Envelope(envelope, "interactive", s.fake.Click(user, channel, ts, actionID, actionID, "trig-"+envelope), 0)); err != nil {
		t.Fatalf("send %s: %v", envelope, err)
	}
	return s.ack(t, envelope)
}

// ack waits for an envelope's ack and checks Slack's 3-second deadline.
func (s *slackApp) ack(t *testing.T, envelope string) slacktest.Ack {
	t.Helper()
	a, ok := s.fake.WaitAck(envelope, slackWait)
	if !ok {
		t.Fatalf("envelope %s not acknowledged", envelope)
	}
	if d, _ := s.fake.AckLatency(envelope); d > 3*time.Second {
		t.Errorf("envelope %s acknowledged after %v, over Slack's 3 s", envelope, d)
	}
	return a
}

func (s *slackApp) waitConnected(t *testing.T, opens int) {
	t.Helper()
	if !s.fake.WaitConnected(opens, slackWait) {
		t.Fatalf("socket not connected after %d opens (opens = %d)", opens, s.fake.Opens())
	}
}

// topLevel returns the messages that are not thread replies.
func topLevel(ms []slacktest.Message) []slacktest.Message {
	var out []slacktest.Message
	for _, m := range ms {
		if m.ThreadTS == "" {
			out = append(out, m)
		}
	}
	return out
}

var orderIDPattern = regexp.MustCompile(`Order #(\d+) is running`)

func TestSlackRentProgressCancelButton(t *testing.T) {
	t.Parallel()
	s := startSlackServe(t, "", nil)
	s.waitConnected(t, 1)
	// The bot reads the socket's events in order on one goroutine, the
	// "connected" event before any envelope: once an envelope is
	// acknowledged, the bot knows it is connected and /readyz must say so.
	// (A condition, not a poll against a deadline: no flake under load.)
	s.slash(t, "env-ready", "UALICE", "C1", "help")
	resp, err := http.Get(s.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz = %d once the socket is connected and serving", resp.StatusCode)
	}

	if a := s.slash(t, "env-rent", "UALICE", "C1", "rent 3090 --hours 1"); len(a.Payload) != 0 && string(a.Payload) != "null" {
		t.Errorf("rent ack carries %s; want an empty ack and a progress message", a.Payload)
	}
	msgs, ok := s.fake.WaitMessages(slackWait, func(ms []slacktest.Message) bool {
		return len(ms) > 0 && orderIDPattern.MatchString(ms[0].Text)
	})
	if !ok {
		t.Fatalf("no running progress message; messages = %+v", msgs)
	}
	if top := topLevel(msgs); len(top) != 1 {
		t.Fatalf("%d top-level messages, want one progress message: %+v", len(top), top)
	}
	progress := msgs[0]
	orderID := orderIDPattern.FindStringSubmatch(progress.Text)[1]
	if !strings.Contains(string(progress.Blocks), `"action_id":"cancel:`+orderID+`"`) ||
		!strings.Contains(string(progress.Blocks), `"style":"danger"`) || !strings.Contains(string(progress.Blocks), `"confirm"`) {
		t.Errorf("progress message has no Cancel button (danger, with confirm) for order %s: %s", orderID, progress.Blocks)
	}
	if len(progress.Versions) < 2 {
		t.Errorf("progress message never updated in place: %q", progress.Versions)
	}
	// Slack's own language: the renter mentioned, the end as a Slack date,
	// the hint as the slash command; the message says who rented.
	for _, want := range []string{"sent to <@UALICE> privately", "until <!date^", "`/clore status " + orderID + "`"} {
		if !strings.Contains(progress.Text, want) {
			t.Errorf("running message %q lacks %q", progress.Text, want)
		}
	}
	if !strings.Contains(string(progress.Blocks), `Requested by \u003c@UALICE\u003e`) {
		t.Errorf("the job message does not say who rented: %s", progress.Blocks)
	}
	for _, m := range msgs {
		if strings.Contains(m.Text+string(m.Blocks), "Password") || strings.Contains(m.Text+string(m.Blocks), "ssh -p") {
			t.Errorf("connection details in a channel message: %+v", m)
		}
	}
	eph, _ := s.fake.WaitEphemerals(slackWait, func(e []slacktest.Ephemeral) bool { return len(e) > 0 })
	if len(eph) == 0 || eph[0].User != "UALICE" || !strings.Contains(string(eph[0].Blocks), "Password") {
		t.Fatalf("connection details not sent to the requester alone: %+v", eph)
	}

	// Another user's click is refused to them alone; nothing changes.
	s.click(t, "env-bob", "UBOB", "C1", progress.TS, "cancel:"+orderID)
	rs, ok := s.fake.WaitResponses(slackWait, func(r []slacktest.Response) bool { return len(r) > 0 })
	if !ok {
		t.Fatal("bob's click got no answer")
	}
	deny := rs[0]
	if deny.Body["response_type"] != "ephemeral" || !strings.Contains(fmt.Sprint(deny.Body["text"]), "not yours; only its renter or an admin") ||
		strings.Contains(fmt.Sprint(deny.Body), "UALICE") {
		t.Errorf("bob's denial = %+v", deny)
	}
	if m := s.fake.Messages()[0]; len(m.Versions) != len(progress.Versions) {
		t.Errorf("bob's click changed the message: %q", m.Versions)
	}
	if live, _ := s.app.clore.MyOrders(context.Background(), false); len(live) != 1 {
		t.Fatalf("active orders after bob's click = %d, want 1", len(live))
	}

	// The renter's click cancels the order and updates the message.
	s.click(t, "env-alice", "UALICE", "C1", progress.TS, "cancel:"+orderID)
	msgs, ok = s.fake.WaitMessages(slackWait, func(ms []slacktest.Message) bool {
		return strings.Contains(ms[0].Text, "cancelled")
	})
	if !ok {
		t.Fatalf("progress message not updated to cancelled: %q", msgs[0].Versions)
	}
	if v := msgs[0].Versions; !strings.Contains(strings.Join(v, "|"), "Cancelling") {
		t.Errorf("no cancelling… state before cancelled: %q", v)
	}
	if live, _ := s.app.clore.MyOrders(context.Background(), false); len(live) != 0 {
		t.Errorf("order still active at the sandbox: %+v", live)
	}
	if top := topLevel(msgs); len(top) != 1 {
		t.Errorf("%d top-level messages after the cancel, want 1", len(top))
	}
	// Lifecycle events go to the order's thread.
	msgs, ok = s.fake.WaitMessages(slackWait, func(ms []slacktest.Message) bool {
		var thread []string
		for _, m := range ms {
			if m.ThreadTS == progress.TS {
				thread = append(thread, m.Text)
			}
		}
		joined := strings.Join(thread, "|")
		return strings.Contains(joined, "is running") && strings.Contains(joined, "was cancelled")
	})
	if !ok {
		t.Errorf("thread of the order lacks running/cancelled events: %+v", msgs)
	}
}

// Bad input is answered in the ack, ephemerally, with what was wrong and
// the usage line; it makes no job and is audited as refused.
func TestSlackBadInput(t *testing.T) {
	t.Parallel()
	s := startSlackServe(t, "", nil)
	s.waitConnected(t, 1)
	tests := []struct {
		name, user, text, want string
		usage                  bool // a badly formed command shows the usage line; a refusal does not
	}{
		{"rent without gpu", "UALICE", "rent", "rent", true},
		{"unknown command", "UALICE", "frobnicate", "frobnicate", true},
		{"negative price", "UALICE", "rent 3090 --max-price -1", "max-price", true},
		{"non-numeric price", "UALICE", "rent 3090 --max-price cheap", "max-price", true},
		{"cancel abc", "UALICE", "cancel abc", "abc", true},
		{"no role", "UNOBODY", "status", "needs the viewer role", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := s.slash(t, fmt.Sprintf("env-bad-%d", i), tt.user, "C1", tt.text)
			var p struct {
				ResponseType string           `json:"response_type"`
				Text         string           `json:"text"`
				Blocks       []map[string]any `json:"blocks"`
			}
			if err := json.Unmarshal(a.Payload, &p); err != nil {
				t.Fatalf("ack payload %s: %v", a.Payload, err)
			}
			blocks, _ := json.Marshal(p.Blocks)
			if p.ResponseType != "ephemeral" || !strings.Contains(p.Text, tt.want) || strings.Contains(string(blocks), "Usage:") != tt.usage {
				t.Errorf("ack = %s; want ephemeral naming %q, the usage line %v", a.Payload, tt.want, tt.usage)
			}
		})
	}
	// A well-formed rent is acknowledged at once; a refusal follows,
	// ephemeral, through the response_url.
	if a := s.slash(t, "env-bad-viewer", "UVERA", "C1", "rent 3090"); len(a.Payload) != 0 {
		t.Errorf("rent ack carries %s", a.Payload)
	}
	rs, ok := s.fake.WaitResponses(slackWait, func(r []slacktest.Response) bool { return len(r) > 0 })
	if !ok || rs[0].Body["response_type"] != "ephemeral" || !strings.Contains(fmt.Sprint(rs[0].Body["text"]), "needs the renter role") ||
		strings.Contains(fmt.Sprint(rs[0].Body["blocks"]), "Usage:") {
		t.Errorf("viewer's rent answered %+v; want a refusal without the usage line", rs)
	}
	// A bare /clore is help, not an error.
	var help struct {
		Text string `json:"text"`
	}
	if a := s.slash(t, "env-bare", "UALICE", "C1", ""); json.Unmarshal(a.Payload, &help) != nil ||
		!strings.Contains(help.Text, "clorebot help") || strings.Contains(help.Text, "no command") {
		t.Errorf("bare /clore answered %s; want help", a.Payload)
	}
	if err := s.app.svc.FlushAudit(context.Background()); err != nil { // refusals are audited in the background
		t.Fatal(err)
	}
	audit, err := s.app.store.ListAudit(context.Background(), commands.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != len(tests)+2 {
		t.Errorf("%d audit rows, want %d", len(audit), len(tests)+2)
	}
	for _, e := range audit {
		if e.Command == "help" {
			continue
		}
		if e.Outcome != commands.StatusError && e.Outcome != commands.StatusDenied {
			t.Errorf("audit row %+v not a refusal", e)
		}
	}
	if jobs, _ := s.app.store.ResumableJobs(context.Background(), time.Now().Add(time.Hour)); len(jobs) != 0 {
		t.Errorf("bad input made jobs: %+v", jobs)
	}
	if n := len(topLevel(s.fake.Messages())); n != 0 {
		t.Errorf("bad input posted %d channel messages", n)
	}
}

// The same rent delivered three times (the same envelope twice, then a
// retry under a new envelope id with the same trigger) makes one job, one
// order and one progress message.
func TestSlackDuplicateRentActsOnce(t *testing.T) {
	t.Parallel()
	s := startSlackServe(t, "", nil)
	s.waitConnected(t, 1)
	payload := s.fake.Slash("UALICE", "C1", "rent 3090 --hours 1", "trig-once")
	for _, env := range []map[string]any{
		slacktest.Envelope("env-once", "slash_commands", payload, 0),
		slacktest.Envelope("env-once", "slash_commands", payload, 0),
		slacktest.Envelope("env-once-retry", "slash_commands", payload, 1),
	} {
		if err := s.fake.Send(env); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.fake.WaitAcks("env-once", 2, slackWait)); n != 2 {
		t.Errorf("env-once acknowledged %d times, want 2", n)
	}
	s.ack(t, "env-once-retry")
	msgs, ok := s.fake.WaitMessages(slackWait, func(ms []slacktest.Message) bool {
		return len(ms) > 0 && orderIDPattern.MatchString(ms[0].Text)
	})
	if !ok {
		t.Fatalf("no running progress message: %+v", msgs)
	}
	if top := topLevel(msgs); len(top) != 1 {
		t.Errorf("%d progress messages, want 1: %+v", len(top), top)
	}
	if live, _ := s.app.clore.MyOrders(context.Background(), false); len(live) != 1 {
		t.Errorf("%d orders at the sandbox, want 1", len(live))
	}
}

// HTTP mode through serve: the routes exist with a signing secret, refuse
// an unsigned request with 401 and answer a signed one in the response.
func TestSlackHTTPModeRoutes(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("k9", 16)
	s := startSlackServe(t, secret, nil)
	body := "team_id=T1&api_app_id=A1&user_id=UALICE&user_name=alice&channel_id=C1&command=%2Fclore&text=help&trigger_id=h1&response_url=" + s.fake.ResponseURL("h1")
	post := func(path string, sign bool) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sign {
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte("v0:" + ts + ":" + body))
			req.Header.Set("X-Slack-Request-Timestamp", ts)
			req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(got)
	}
	if code, _ := post("/slack/commands", false); code != http.StatusUnauthorized {
		t.Errorf("unsigned command: %d, want 401", code)
	}
	if code, _ := post("/slack/interactivity", false); code != http.StatusUnauthorized {
		t.Errorf("unsigned click: %d, want 401", code)
	}
	if code, got := post("/slack/commands", true); code != http.StatusOK || !strings.Contains(got, "clorebot help") {
		t.Errorf("signed help: %d %s", code, got)
	}
}

// Slack redelivers an envelope whose ack it did not get, also to a process
// that restarted meanwhile and remembers neither the envelope nor the
// job's message. The job is found by the command's trigger_id (durable),
// and its message by the reference stored with the job: no second job, no
// second progress message. Stopping serve is the barrier: it handles every
// acknowledged command before it returns.
func TestSlackRedeliveryAfterRestartPostsNothingNew(t *testing.T) {
	t.Parallel()
	fake := slacktest.New(slacktest.Options{AppToken: testAppToken, BotToken: testBotToken, PingEvery: 50 * time.Millisecond})
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	testDB(t, dir) // on PostgreSQL the database is this test's: it outlives the restart
	payload := fake.Slash("UALICE", "C1", "rent 3090 --hours 1", "trig-restart")
	var first []slacktest.Message
	t.Run("before the restart", func(t *testing.T) {
		s := serveSlackIn(t, fake, dir, "", 0)
		s.waitConnected(t, 1)
		if err := fake.Send(slacktest.Envelope("env-restart", "slash_commands", payload, 0)); err != nil {
			t.Fatal(err)
		}
		s.ack(t, "env-restart")
		msgs, ok := fake.WaitMessages(slackWait, func(ms []slacktest.Message) bool {
			return len(ms) > 0 && orderIDPattern.MatchString(ms[0].Text)
		})
		if !ok {
			t.Fatalf("no running progress message: %+v", msgs)
		}
		first = topLevel(msgs)
	})
	t.Run("after the restart", func(t *testing.T) {
		s := serveSlackIn(t, fake, dir, "", 0)
		s.waitConnected(t, 2)
		for _, env := range []map[string]any{
			slacktest.Envelope("env-restart", "slash_commands", payload, 1),
			slacktest.Envelope("env-restart-2", "slash_commands", payload, 2),
		} {
			if err := fake.Send(env); err != nil {
				t.Fatal(err)
			}
		}
		s.ack(t, "env-restart")
		s.ack(t, "env-restart-2")
	})
	if len(first) != 1 {
		t.Fatalf("%d messages before the restart, want 1", len(first))
	}
	if top := topLevel(fake.Messages()); len(top) != 1 {
		var texts []string
		for _, m := range top {
			texts = append(texts, m.Text)
		}
		t.Errorf("%d top-level messages after the redeliveries, want the one from before: %q", len(top), texts)
	}
	if n := len(fake.Responses()); n != 0 {
		t.Errorf("the redeliveries were answered through the response_url: %+v", fake.Responses())
	}
}
