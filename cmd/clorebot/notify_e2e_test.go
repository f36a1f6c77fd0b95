package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/discordbot"
	"github.com/clorebot/clorebot/bot/slackbot"
	"github.com/clorebot/clorebot/commands"
)

// incomingReceiver is a local Slack or Discord incoming webhook: it fails
// the first `failures` requests with `failWith`, then answers `ok`.
type incomingReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []string
	failures int
	failWith func(w http.ResponseWriter)
	ok       int
}

func newIncomingReceiver(t *testing.T, ok, failures int, failWith func(w http.ResponseWriter)) *incomingReceiver {
	t.Helper()
	rc := &incomingReceiver{ok: ok, failures: failures, failWith: failWith}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.bodies = append(rc.bodies, string(b))
		if r.Header.Get("Content-Type") != "application/json" || r.Method != http.MethodPost {
			t.Errorf("incoming webhook got %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		if rc.failures > 0 {
			rc.failures--
			rc.failWith(w)
			return
		}
		w.WriteHeader(rc.ok)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *incomingReceiver) all() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.bodies...)
}

// waitFor polls until a body contains s (deliveries go out on a 1 s tick).
func (rc *incomingReceiver) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, b := range rc.all() {
			if strings.Contains(b, s) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never received %q; got %v", s, rc.all())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The notify sinks end to end: a rent and a cancel through serve reach a
// Slack incoming webhook (text + blocks) and a Discord webhook (content +
// embeds) exactly as the bots' renderers build them, after a failure (Slack
// 500) and a rate limit (Discord 429 retry_after) are retried, and neither
// ever sees a password or connection details.
func TestNotifySinksEndToEnd(t *testing.T) {
	t.Parallel()
	slackRc := newIncomingReceiver(t, http.StatusOK, 1, func(w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
	discordRc := newIncomingReceiver(t, http.StatusNoContent, 1, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"message": "You are being rate limited.", "retry_after": 0.5, "global": false}`)
	})
	dir := t.TempDir()
	conf := sandboxConfig(t, dir) + fmt.Sprintf(`servers = 500
[notify]
slack_webhook_url = %q
slack_events = ["order.running", "order.cancelled"]
discord_webhook_url = %q
`, slackRc.URL+"/services/T1/B1/tok", discordRc.URL+"/api/webhooks/1/tok")
	path := filepath.Join(dir, "clorebot.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := (&env{ctx: context.Background(), cli: &cli{Config: path}}).load()
	if err != nil {
		t.Fatal(err)
	}
	app := NewApp(cfg, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := app.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		app.Close()
	}()
	if err := app.svc.Warm(ctx, commands.Request{Text: "rent 3090"}); err != nil {
		t.Fatal(err)
	}
	r := app.svc.Handle(ctx, commands.Request{Platform: commands.PlatformCLI, User: "cli:ops", Channel: "cli",
		Text: "rent 3090 --hours 1", IdempotencyKey: "notify-e2e-rent"})
	if r.Status != commands.StatusQueued {
		t.Fatalf("rent: %+v", r)
	}
	slackRc.waitFor(t, "is running")
	discordRc.waitFor(t, "is running")
	job, err := app.store.GetJob(ctx, r.JobID)
	if err != nil {
		t.Fatal(err)
	}
	id := regexp.MustCompile(`Order #(\d+) is running`).FindStringSubmatch(strings.Join(slackRc.all(), "\n"))[1]
	if c := app.svc.Handle(ctx, commands.Request{Platform: commands.PlatformCLI, User: "cli:ops", Channel: "cli",
		Text: "cancel " + id, IdempotencyKey: "notify-e2e-cancel"}); c.Status != commands.StatusQueued {
		t.Fatalf("cancel: %+v", c)
	}
	slackRc.waitFor(t, "was cancelled")
	discordRc.waitFor(t, "was cancelled")

	// Exactly what the renderers build from the outbox events.
	events, err := app.store.ListEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.Type != "order.running" && ev.Type != "order.cancelled" {
			continue
		}
		want, _, _ := slackbot.IncomingPayload(ev)
		if !slices.Contains(slackRc.all(), string(want)) {
			t.Errorf("slack never got the exact %s payload %s; got %v", ev.Type, want, slackRc.all())
		}
		want, _, _ = discordbot.IncomingPayload(ev)
		if !slices.Contains(discordRc.all(), string(want)) {
			t.Errorf("discord never got the exact %s payload %s", ev.Type, want)
		}
	}
	for _, b := range slackRc.all() {
		var p struct {
			Text   string            `json:"text"`
			Blocks []json.RawMessage `json:"blocks"`
		}
		if err := json.Unmarshal([]byte(b), &p); err != nil || p.Text == "" || len(p.Blocks) == 0 {
			t.Errorf("slack payload without text and blocks: %s", b)
		}
	}
	for _, b := range discordRc.all() {
		var p struct {
			Content string            `json:"content"`
			Embeds  []json.RawMessage `json:"embeds"`
		}
		if err := json.Unmarshal([]byte(b), &p); err != nil || p.Content == "" || len(p.Embeds) == 0 {
			t.Errorf("discord payload without content and embeds: %s", b)
		}
	}
	// The failures were retried: the first request of each failed.
	if n := strings.Count(strings.Join(slackRc.all(), "\n"), "is running"); n != 2 {
		t.Errorf("slack got order.running %d times, want 2 (a 500, then the retry)", n)
	}
	if n := strings.Count(strings.Join(discordRc.all(), "\n"), "is running"); n != 2 {
		t.Errorf("discord got order.running %d times, want 2 (a 429, then the retry)", n)
	}
	// The filter: Slack takes order.running and order.cancelled only.
	for _, b := range slackRc.all() {
		if !strings.Contains(b, "is running") && !strings.Contains(b, "was cancelled") {
			t.Errorf("slack got an event outside its filter: %s", b)
		}
	}
	var params struct {
		SSHPassword string `json:"ssh_password"`
	}
	_ = json.Unmarshal(job.Params, &params)
	all := strings.Join(append(slackRc.all(), discordRc.all()...), "\n")
	for _, secret := range []string{"ssh -p", "Password", "root@", "clorecloud"} {
		if strings.Contains(all, secret) {
			t.Errorf("a notification holds connection details (%q)", secret)
		}
	}
	if params.SSHPassword != "" && strings.Contains(all, params.SSHPassword) {
		t.Error("a notification holds the SSH password")
	}
}
