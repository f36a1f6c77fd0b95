package main

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
	"github.com/clorebot/clorebot/bot/slackbot/slacktest"
	"github.com/clorebot/clorebot/commands"
)

// rentRunningOverSlack rents through /clore and returns the order's Clore
// id once it runs.
func (s *slackApp) rentRunningOverSlack(t *testing.T, envelope string) int64 {
	t.Helper()
	s.slash(t, envelope, "UALICE", "C1", "rent 3090 --hours 1")
	msgs, ok := s.fake.WaitMessages(slackWait, func(ms []slacktest.Message) bool {
		return len(ms) > 0 && orderIDPattern.MatchString(ms[0].Text)
	})
	if !ok {
		t.Fatalf("no running progress message: %+v", msgs)
	}
	var id int64
	fmt.Sscan(orderIDPattern.FindStringSubmatch(msgs[0].Text)[1], &id)
	return id
}

// deliverTwice sends one slash command as Slack retries a slow ack: the
// same payload (trigger_id) under two envelope ids, and returns the text
// of each delivery's answer: its ack's, or else the one posted to its
// response_url (none for a job's progress, which is a message of its own).
func (s *slackApp) deliverTwice(t *testing.T, trigger, user, text string) []string {
	t.Helper()
	payload := s.fake.Slash(user, "C1", text, trigger)
	path := "/response/cmd-" + trigger
	responses := func(rs []slacktest.Response) []string {
		var out []string
		for _, r := range rs {
			if r.Path == path {
				out = append(out, fmt.Sprint(r.Body["text"]))
			}
		}
		return out
	}
	var answers []string
	for i, env := range []string{"env-" + trigger, "env-" + trigger + "-retry"} {
		n := len(responses(s.fake.Responses()))
		if err := s.fake.Send(slacktest.Envelope(env, "slash_commands", payload, i)); err != nil {
			t.Fatal(err)
		}
		a := s.ack(t, env)
		var ack struct{ Text string }
		if json.Unmarshal(a.Payload, &ack) == nil && ack.Text != "" {
			answers = append(answers, ack.Text)
			continue
		}
		rs, _ := s.fake.WaitResponses(5*time.Second, func(rs []slacktest.Response) bool { return len(responses(rs)) > n })
		if got := responses(rs); len(got) > n {
			answers = append(answers, got[n])
		} else {
			answers = append(answers, "")
		}
	}
	return answers
}

// Issue 21 #1: typed `/clore extend <id> 2` delivered twice by Slack (the
// same trigger_id, a new envelope_id) moves the order's end by 2 h, not 4,
// and the retry gets the first answer; watch, watch cancel and confirm
// likewise act once.
func TestSlackRetriedCommandsActOnce(t *testing.T) {
	t.Parallel()
	s := startSlackServeConfirming(t, "", nil, 0)
	s.waitConnected(t, 1)
	ctx := context.Background()
	id := s.rentRunningOverSlack(t, "env-rent")
	before, err := s.app.store.GetOrderByCloreID(ctx, id)
	if err != nil || before.ExpiresAt == nil {
		t.Fatalf("order %d: %+v, %v", id, before, err)
	}

	answers := s.deliverTwice(t, "trig-extend", "UALICE", fmt.Sprintf("extend %d 2", id))
	after, _ := s.app.store.GetOrderByCloreID(ctx, id)
	if got := after.ExpiresAt.Sub(*before.ExpiresAt); got != 2*time.Hour {
		t.Fatalf("a retried extend moved the end by %s, want 2h", got)
	}
	if len(answers) != 2 || answers[0] != answers[1] || !strings.Contains(answers[0], "extended by 2 h") {
		t.Fatalf("extend answers = %q; want the first answer twice", answers)
	}

	watch := s.deliverTwice(t, "trig-watch", "UALICE", "watch 3090 0.01")
	ws, _ := s.app.store.ListWatches(ctx, "slack:UALICE")
	if len(ws) != 1 || watch[0] != watch[1] {
		t.Fatalf("a retried watch set %d watches, answered %q; want 1, the first answer twice", len(ws), watch)
	}
	unwatch := s.deliverTwice(t, "trig-unwatch", "UALICE", fmt.Sprintf("watch cancel %d", ws[0].ID))
	if unwatch[0] != unwatch[1] || !strings.Contains(unwatch[1], fmt.Sprintf("Watch #%d cancelled.", ws[0].ID)) {
		t.Fatalf("watch cancel answers = %q", unwatch)
	}
	if err := s.app.svc.FlushAudit(ctx); err != nil {
		t.Fatal(err)
	}
	audit, _ := s.app.store.ListAudit(ctx, commands.AuditFilter{})
	extends := 0
	for _, e := range audit {
		if strings.HasPrefix(e.Command, "extend") && e.Outcome == commands.StatusOK && !strings.Contains(e.Detail, "answered as before") {
			extends++
		}
	}
	if extends != 1 {
		t.Errorf("%d audit rows of an extend done, want 1: %+v", extends, audit)
	}

	// Issue 21 #6: the rent's response_url is kept while Slack takes it
	// (30 minutes), then wiped from the database.
	o, _ := s.app.store.GetOrderByCloreID(ctx, id)
	if !strings.Contains(o.ReplyTarget, "/response/cmd-trig-env-rent") {
		t.Fatalf("the order's target holds no response_url before it expires: %q", o.ReplyTarget)
	}
	if n, err := s.app.store.WipeReplyTargets(ctx, time.Now().Add(29*time.Minute)); err != nil || n != 0 {
		t.Fatalf("wiped %d live targets (%v)", n, err)
	}
	if n, err := s.app.store.WipeReplyTargets(ctx, time.Now().Add(31*time.Minute)); err != nil || n < 2 {
		t.Fatalf("wiped %d expired targets (%v), want the job's and the order's at least", n, err)
	}
	o, _ = s.app.store.GetOrderByCloreID(ctx, id)
	if strings.Contains(o.ReplyTarget, "/response/") || !strings.Contains(o.ReplyTarget, `"c":"C1"`) {
		t.Fatalf("the order's target after the wipe: %q", o.ReplyTarget)
	}
}

// A typed confirm retried by Slack queues the rent once and answers the
// retry as the first delivery.
func TestSlackRetriedConfirmActsOnce(t *testing.T) {
	t.Parallel()
	s := startSlackServeConfirming(t, "", nil, 0.01)
	s.waitConnected(t, 1)
	ctx := context.Background()
	s.slash(t, "env-ask", "UALICE", "C1", "rent 3090 --hours 1")
	prompt := s.responseTo(t, "/response/cmd-trig-env-ask", "Rent now")
	raw, _ := json.Marshal(prompt)
	m := confirmActionPattern.FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatalf("no Rent now button in %s", raw)
	}
	jobID := strings.TrimPrefix(m[1], "confirm:")
	s.deliverTwice(t, "trig-confirm", "UALICE", "confirm "+jobID)
	if _, ok := s.fake.WaitMessages(slackWait, func(ms []slacktest.Message) bool {
		return len(ms) > 0 && orderIDPattern.MatchString(ms[0].Text)
	}); !ok {
		t.Fatal("the confirmed rent did not run")
	}
	if live, _ := s.app.clore.MyOrders(ctx, false); len(live) != 1 {
		t.Fatalf("%d orders at the sandbox, want 1", len(live))
	}
	if top := topLevel(s.fake.Messages()); len(top) != 1 {
		t.Errorf("%d progress messages, want 1", len(top))
	}
}

// logCapture is a slog handler that keeps every record's level and message.
type logCapture struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCapture) WithGroup(string) slog.Handler            { return c }
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, r.Clone())
	return nil
}

// count is how many records at level have msg in their message.
func (c *logCapture) count(level slog.Level, msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.recs {
		if r.Level == level && strings.Contains(r.Message, msg) {
			n++
		}
	}
	return n
}

// startSlackHTTP runs serve with Slack HTTP mode (and Socket Mode) on dir,
// extra appended to its configuration; stop ends it (a restart follows).
func startSlackHTTP(t *testing.T, fake *slacktest.Server, dir, secret, extra string, log *slog.Logger) (*slackApp, func()) {
	t.Helper()
	path := writeSlackConfig(t, fake, dir, secret, 0)
	if extra != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.WriteString(extra)
		f.Close()
	}
	app, stop := startApp(t, path, log, func(ctx context.Context, app *App) error {
		return errors.Join(app.svc.RefreshMarket(ctx), app.svc.RefreshOrders(ctx))
	})
	return &slackApp{app: app, fake: fake, base: "http://" + app.Addr().String()}, stop
}

// slackSigned is a signed Slack HTTP-mode request as Slack sends it.
type slackSigned struct {
	path, body, ts, sig string
}

func signSlack(secret, path, body string, at time.Time) slackSigned {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":" + body))
	return slackSigned{path: path, body: body, ts: ts, sig: "v0=" + hex.EncodeToString(mac.Sum(nil))}
}

// post sends r to base with sig as its signature header.
func (r slackSigned) post(t *testing.T, base, sig string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+r.path, strings.NewReader(r.body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", r.ts)
	req.Header.Set("X-Slack-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}

// Issue 21 #2: a replayed Slack HTTP request is not acted on, whatever the
// case of its signature's hex (slack-go accepts both), and not after a
// restart either: a replayed `status` never returns its ephemeral answer.
func TestSlackHTTPReplayRefusedInBothCasesAndAfterRestart(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("r7", 16)
	fake := slacktest.New(slacktest.Options{AppToken: testAppToken, BotToken: testBotToken, PingEvery: 50 * time.Millisecond})
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	body := "team_id=T1&api_app_id=A1&user_id=UALICE&user_name=alice&channel_id=C1&command=%2Fclore&text=status&trigger_id=st1&response_url=" + fake.ResponseURL("st1")
	req := signSlack(secret, "/slack/commands", body, time.Now())
	upper := "v0=" + strings.ToUpper(strings.TrimPrefix(req.sig, "v0="))

	s, stop := startSlackHTTP(t, fake, dir, secret, "", slog.New(slog.DiscardHandler))
	code, first := req.post(t, s.base, req.sig)
	if code != http.StatusOK || !strings.Contains(first, `"response_type":"ephemeral"`) {
		t.Fatalf("signed status: %d %s", code, first)
	}
	for _, sig := range []string{req.sig, upper} {
		if code, got := req.post(t, s.base, sig); code != http.StatusOK || strings.TrimSpace(got) != "" {
			t.Errorf("replay with %q: %d %q; want 200 and nothing acted on", sig[:10], code, got)
		}
	}
	stop()

	s, stop = startSlackHTTP(t, fake, dir, secret, "", slog.New(slog.DiscardHandler))
	defer stop()
	for _, sig := range []string{req.sig, upper} {
		if code, got := req.post(t, s.base, sig); code != http.StatusOK || strings.TrimSpace(got) != "" {
			t.Errorf("replay after a restart with %q: %d %q; want 200 and nothing acted on", sig[:10], code, got)
		}
	}
	fresh := signSlack(secret, "/slack/commands", strings.Replace(body, "st1", "st2", 1), time.Now())
	if code, got := fresh.post(t, s.base, fresh.sig); code != http.StatusOK || !strings.Contains(got, "ephemeral") {
		t.Errorf("a new request after the restart: %d %s", code, got)
	}
	// One signed request sent ten times at once, in both cases of hex: acted on once.
	burst := signSlack(secret, "/slack/commands", strings.Replace(body, "st1", "st3", 1), time.Now())
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered := 0
	for i := range 10 {
		sig := burst.sig
		if i%2 == 1 {
			sig = "v0=" + strings.ToUpper(strings.TrimPrefix(sig, "v0="))
		}
		wg.Go(func() {
			if code, got := burst.post(t, s.base, sig); code == http.StatusOK && strings.TrimSpace(got) != "" {
				mu.Lock()
				answered++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if answered != 1 {
		t.Errorf("a burst of one signed request was answered %d times, want 1", answered)
	}
	if err := s.app.svc.FlushAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	audit, _ := s.app.store.ListAudit(context.Background(), commands.AuditFilter{})
	if len(audit) != 3 {
		t.Errorf("%d audit rows, want 3 (the status, the new one, the burst's): %+v", len(audit), audit)
	}
}

// Issue 21 #4: a signed Discord HTTP interaction replayed to a restarted
// process within its 5-minute window is refused, not answered again.
func TestDiscordHTTPReplayRefusedAfterRestart(t *testing.T) {
	t.Parallel()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token := "test." + hex.EncodeToString(b)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake := fd.New(t, fd.Options{Token: token})
	dir := t.TempDir()
	path := writeDiscordConfig(t, dir, fake, token, interactionsConfig(pub), `renters = ["discord:1001"]`)
	help := fake.Slash("9001", "htok1", fd.Who{UserID: "1001"}, "clore", fd.Sub("help"))
	fake.Expect(help)
	raw, _ := json.Marshal(help)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := hex.EncodeToString(ed25519.Sign(priv, []byte(ts+string(raw))))
	post := func(base string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/discord/interactions", strings.NewReader(string(raw)))
		req.Header.Set("X-Signature-Timestamp", ts)
		req.Header.Set("X-Signature-Ed25519", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	app, stop := startApp(t, path, slog.New(slog.DiscardHandler), nil)
	if code := post("http://" + app.Addr().String()); code != http.StatusOK {
		t.Fatalf("signed help: %d", code)
	}
	if code := post("http://" + app.Addr().String()); code != http.StatusConflict {
		t.Fatalf("replay: %d, want 409", code)
	}
	stop()
	app, stop = startApp(t, path, slog.New(slog.DiscardHandler), nil)
	defer stop()
	if code := post("http://" + app.Addr().String()); code != http.StatusConflict {
		t.Fatalf("replay to a restarted process: %d, want 409", code)
	}
}

// Issue 21 #8: /slack/* and /discord/interactions limit failed
// authentication per address (webhook.ip_rate_per_minute), a signed
// request from that address still passes, and refusals are logged at debug
// with one summary at warn, not a warning each.
func TestChatRoutesLimitFailedAuthentication(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("q3", 16)
	fake := slacktest.New(slacktest.Options{AppToken: testAppToken, BotToken: testBotToken, PingEvery: 50 * time.Millisecond})
	t.Cleanup(fake.Close)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logCapture{}
	extra := fmt.Sprintf("[webhook]\nip_rate_per_minute = 3\n[discord]\npublic_key = %q\napplication_id = \"100\"\n", hex.EncodeToString(pub))
	s, stop := startSlackHTTP(t, fake, t.TempDir(), secret, extra, slog.New(logs))
	defer stop()
	body := "team_id=T1&api_app_id=A1&user_id=UALICE&user_name=alice&channel_id=C1&command=%2Fclore&text=help&trigger_id=h1&response_url=" + fake.ResponseURL("h1")
	forged := signSlack("not-the-secret", "/slack/commands", body, time.Now())
	var codes []int
	for range 5 {
		code, _ := forged.post(t, s.base, forged.sig)
		codes = append(codes, code)
	}
	if fmt.Sprint(codes) != "[401 401 401 429 429]" {
		t.Fatalf("forged signatures answered %v, want three 401 then 429", codes)
	}
	// An unsigned request from the same address is refused at once.
	resp, err := http.Post(s.base+"/discord/interactions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("unsigned Discord request over the limit: %d (Retry-After %q)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Slack's own signed request is checked, and served.
	good := signSlack(secret, "/slack/commands", body, time.Now())
	if code, got := good.post(t, s.base, good.sig); code != http.StatusOK || !strings.Contains(got, "clorebot help") {
		t.Fatalf("signed request from a limited address: %d %s", code, got)
	}
	if n := logs.count(slog.LevelWarn, "refused"); n != 1 {
		t.Errorf("%d warnings for 6 refusals, want one summary", n)
	}
	if n := logs.count(slog.LevelDebug, "refused"); n < 6 {
		t.Errorf("%d debug lines for 6 refusals", n)
	}
}

// A typed extend redelivered to a process restarted in between (Slack
// retries an unacknowledged command under a new envelope id) finds the
// first delivery's record: the end moves once, the retry gets the first
// answer.
func TestSlackExtendRedeliveredAfterRestartActsOnce(t *testing.T) {
	t.Parallel()
	fake := slacktest.New(slacktest.Options{AppToken: testAppToken, BotToken: testBotToken, PingEvery: 50 * time.Millisecond})
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	testDB(t, dir) // on PostgreSQL the database is this test's: it outlives the restart
	ctx := context.Background()
	var id int64
	var before time.Time
	var first []string
	t.Run("before the restart", func(t *testing.T) {
		s := serveSlackIn(t, fake, dir, "", 0)
		s.waitConnected(t, 1)
		id = s.rentRunningOverSlack(t, "env-rent")
		o, _ := s.app.store.GetOrderByCloreID(ctx, id)
		before = *o.ExpiresAt
		payload := fake.Slash("UALICE", "C1", fmt.Sprintf("extend %d 3", id), "trig-restart-ext")
		if err := fake.Send(slacktest.Envelope("env-ext-1", "slash_commands", payload, 0)); err != nil {
			t.Fatal(err)
		}
		s.ack(t, "env-ext-1")
		rs, ok := fake.WaitResponses(slackWait, func(rs []slacktest.Response) bool {
			for _, r := range rs {
				if r.Path == "/response/cmd-trig-restart-ext" {
					return true
				}
			}
			return false
		})
		if !ok {
			t.Fatal("the extend was not answered")
		}
		for _, r := range rs {
			if r.Path == "/response/cmd-trig-restart-ext" {
				first = append(first, fmt.Sprint(r.Body["text"]))
			}
		}
	})
	t.Run("after the restart", func(t *testing.T) {
		s := serveSlackIn(t, fake, dir, "", 0)
		s.waitConnected(t, 2)
		payload := fake.Slash("UALICE", "C1", fmt.Sprintf("extend %d 3", id), "trig-restart-ext")
		if err := fake.Send(slacktest.Envelope("env-ext-2", "slash_commands", payload, 1)); err != nil {
			t.Fatal(err)
		}
		s.ack(t, "env-ext-2")
		rs, ok := fake.WaitResponses(slackWait, func(rs []slacktest.Response) bool {
			n := 0
			for _, r := range rs {
				if r.Path == "/response/cmd-trig-restart-ext" {
					n++
				}
			}
			return n == 2
		})
		if !ok {
			t.Fatal("the redelivered extend was not answered")
		}
		if got := fmt.Sprint(rs[len(rs)-1].Body["text"]); len(first) != 1 || got != first[0] {
			t.Errorf("the redelivery answered %q, the first %q", got, first)
		}
		o, _ := s.app.store.GetOrderByCloreID(ctx, id)
		if got := o.ExpiresAt.Sub(before); got != 3*time.Hour {
			t.Fatalf("the end moved by %s across the restart, want 3h once", got)
		}
	})
}
