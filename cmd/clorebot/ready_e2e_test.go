package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
	"github.com/clorebot/clorebot/bot/slackbot/slacktest"
	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/storage"
)

// marketplaceGate stands between the Clore client and the in-process
// sandbox: marketplace requests wait until release is closed (a slow
// Clore at start), or fail at once while fail is set (Clore unreachable).
// Every other call goes through.
type marketplaceGate struct {
	next    http.RoundTripper
	release chan struct{}
	fail    atomic.Bool
	calls   atomic.Int32 // marketplace requests seen
}

// gateMarketplace puts a gate in front of app's sandbox; prepare hooks
// call it between Open and Run, before the client's first call.
func gateMarketplace(app *App) *marketplaceGate {
	g := &marketplaceGate{next: app.sandboxHTTP.Transport, release: make(chan struct{})}
	app.sandboxHTTP.Transport = g
	return g
}

func (g *marketplaceGate) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/marketplace") {
		g.calls.Add(1)
		if g.fail.Load() {
			return nil, errors.New("marketplace unreachable (test)")
		}
		select {
		case <-g.release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return g.next.RoundTrip(r)
}

// CloseIdleConnections lets the App close the sandbox's connections before
// it stops the sandbox, as it does without the gate.
func (g *marketplaceGate) CloseIdleConnections() {
	if c, ok := g.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// waitMarketplaceCall waits until the first tick has asked for the marketplace.
func (g *marketplaceGate) waitMarketplaceCall(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); g.calls.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("serve never asked for the marketplace")
		}
	}
}

// waitReady polls /readyz until it answers 200, and returns its body; any
// answer but 503 before that fails the test.
func waitReady(t *testing.T, base string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, body := get(t, base+"/readyz")
		switch {
		case code == http.StatusOK:
			return body
		case code != http.StatusServiceUnavailable:
			t.Fatalf("/readyz = %d %s", code, body)
		case time.Now().After(deadline):
			t.Fatalf("/readyz still not ready: %s", body)
		}
	}
}

// signedPost sends body to path, signed by the webhook key zap.
func signedPost(t *testing.T, base, path string, body []byte) (int, []byte) {
	t.Helper()
	key, err := webhook.ConfiguredKey("zap", e2eKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	code, _, answer := send(t, http.MethodPost, base+path, webhook.SignedHeaders(key.Secret, webhook.NewMessageID(), time.Now(), body), body)
	return code, answer
}

// freeModel is a GPU model with a free offer in app's marketplace snapshot.
func freeModel(t *testing.T, app *App) string {
	t.Helper()
	models, err := app.svc.Market(context.Background())
	if err != nil {
		t.Fatalf("Market once ready: %v", err)
	}
	for _, m := range models {
		if m.Available > 0 && m.Reliable > 0 {
			return m.Model
		}
	}
	t.Fatal("nothing free in the marketplace")
	return ""
}

// /readyz says 503, naming the snapshot it waits for, while the first
// marketplace refresh is slow; a create-order signed the moment it says 200
// is accepted (issue 19: on the old code /readyz said 200 at once and such
// a request got 503 "warming up").
func TestReadyOnlyOnceTheMarketplaceIsLoaded(t *testing.T) {
	t.Parallel()
	rc := newE2EReceiver(t)
	var app *App
	var gate *marketplaceGate
	base, _ := startServeWith(t, rc.URL+"/sub", func(_ context.Context, a *App) error {
		app, gate = a, gateMarketplace(a)
		return nil
	})
	gate.waitMarketplaceCall(t) // the first refresh started at once, and waits
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"marketplace":"failing"`) || !strings.Contains(body, `"status":"not ready"`) {
		t.Fatalf("/readyz while the marketplace loads = %d %s; want 503 naming marketplace", code, body)
	}
	// Not ready means what it says: a rent now would be refused.
	if code, answer := signedPost(t, base, "/webhook/create-order", []byte(`{"gpu_type": "4090", "hours": 1}`)); code != http.StatusServiceUnavailable {
		t.Fatalf("create-order before ready = %d %s; want 503 warming up", code, answer)
	}

	close(gate.release)
	if body := waitReady(t, base); !strings.Contains(body, `"marketplace":"ok"`) || !strings.Contains(body, `"orders":"ok"`) {
		t.Errorf("/readyz once ready = %s", body)
	}
	order := fmt.Appendf(nil, `{"gpu_type": %q, "hours": 1}`, freeModel(t, app))
	if code, answer := signedPost(t, base, "/webhook/create-order", order); code != http.StatusAccepted {
		t.Fatalf("create-order once /readyz said 200 = %d %s; want 202", code, answer)
	}
}

// A restart is ready at once from the snapshots the last run stored, and
// `market` says how old its prices are; a Clore outage then shows as
// degraded, still 200.
func TestRestartAnswersFromTheStoredSnapshot(t *testing.T) {
	t.Parallel()
	rc := newE2EReceiver(t)
	dir := t.TempDir()
	configPath := writeWebhookConfig(t, dir, rc.URL+"/sub")
	first, stop := startApp(t, configPath, slog.New(slog.DiscardHandler), nil)
	waitReady(t, "http://"+first.Addr().String())
	// The running serve says so in the database (what exec and doctor read).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		live, err := first.store.LiveServes(context.Background(), time.Now().Add(-serveAlive))
		if err == nil && len(live) == 1 && live[0].ID == first.proc.ID && live[0].PID == os.Getpid() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve's heartbeat row = %+v, %v", live, err)
		}
	}
	stop() // stores the snapshots, deletes the heartbeat row

	var gate *marketplaceGate
	second := runServe(t, configPath, slog.New(slog.DiscardHandler), func(_ context.Context, a *App) error {
		gate = gateMarketplace(a)
		gate.fail.Store(true) // Clore's marketplace is down from the start
		return nil
	})
	if live, err := second.store.LiveServes(context.Background(), time.Time{}); err != nil || slices.ContainsFunc(live, func(p storage.ServeProcess) bool { return p.ID == first.proc.ID }) {
		t.Errorf("the stopped serve's heartbeat row is left: %+v, %v", live, err)
	}
	base := "http://" + second.Addr().String()
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || !strings.Contains(body, `"marketplace":"ok"`) {
		t.Fatalf("/readyz at the restart = %d %s; want 200 from the stored snapshot", code, body)
	}
	code, answer := signedPost(t, base, "/webhook/command", []byte(`{"text": "market"}`))
	if code != http.StatusOK || !strings.Contains(string(answer), "Prices as of") || !strings.Contains(string(answer), "kept from before a restart") {
		t.Fatalf("market at the restart = %d %s; want the stored prices with their age", code, answer)
	}

	// The first refresh fails: degraded, still serving.
	gate.waitMarketplaceCall(t)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, body := get(t, base+"/readyz")
		if code != http.StatusOK {
			t.Fatalf("/readyz during the outage = %d %s; want 200", code, body)
		}
		if strings.Contains(body, `"status":"degraded"`) && strings.Contains(body, `"marketplace":"degraded"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never said degraded during the outage: %s", body)
		}
	}
	order := fmt.Appendf(nil, `{"gpu_type": %q, "hours": 1}`, freeModel(t, second))
	if code, answer := signedPost(t, base, "/webhook/create-order", order); code != http.StatusAccepted {
		t.Fatalf("create-order during the outage = %d %s; want 202", code, answer)
	}
}

// Slack's Socket Mode connects only once serve is ready; until then
// /readyz names what it waits for.
func TestSlackSocketConnectsOnlyOnceReady(t *testing.T) {
	t.Parallel()
	fake := slacktest.New(slacktest.Options{AppToken: testAppToken, BotToken: testBotToken, PingEvery: 50 * time.Millisecond})
	t.Cleanup(fake.Close)
	var gate *marketplaceGate
	app := runServe(t, writeSlackConfig(t, fake, t.TempDir(), "", 0), slog.New(slog.DiscardHandler), func(_ context.Context, a *App) error {
		gate = gateMarketplace(a)
		return nil
	})
	base := "http://" + app.Addr().String()
	gate.waitMarketplaceCall(t)
	if fake.WaitOpenAttempts(1, 500*time.Millisecond) {
		t.Fatal("Socket Mode connected before serve was ready")
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"slack":"failing"`) || !strings.Contains(body, `"marketplace":"failing"`) {
		t.Fatalf("/readyz before ready = %d %s", code, body)
	}
	close(gate.release)
	if !fake.WaitConnected(1, slackWait) {
		t.Fatal("Socket Mode never connected once ready")
	}
	waitReady(t, base)
}

// The Discord gateway connects only once serve is ready; /clore is
// registered meanwhile.
func TestDiscordGatewayConnectsOnlyOnceReady(t *testing.T) {
	t.Parallel()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token := "test." + hex.EncodeToString(b)
	fake := fd.New(t, fd.Options{Token: token})
	configPath := writeDiscordConfig(t, t.TempDir(), fake, token, "", `renters = ["discord:1001"]`)
	var gate *marketplaceGate
	app := runServe(t, configPath, slog.New(slog.DiscardHandler), func(_ context.Context, a *App) error {
		gate = gateMarketplace(a)
		return nil
	})
	base := "http://" + app.Addr().String()
	gate.waitMarketplaceCall(t)
	if fake.Await(500*time.Millisecond, func() bool { return fake.Stats().Connections > 0 }) {
		t.Fatal("the gateway connected before serve was ready")
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"discord":"failing"`) || !strings.Contains(body, `"marketplace":"failing"`) {
		t.Fatalf("/readyz before ready = %d %s", code, body)
	}
	close(gate.release)
	fake.WaitFor(t, 10*time.Second, "READY", func() bool { return fake.Connected(1) })
	waitReady(t, base)
	if model := offeredGPU(t, fake, "1001"); model == "" {
		t.Error("no GPU offered once ready")
	}
}

// With HTTP interactions configured, a Discord gateway that cannot connect
// does not make serve unready: Discord sends interactions to the endpoint,
// which answers; /readyz says the door is degraded.
func TestReadyWithHTTPInteractionsWhileTheGatewayIsDown(t *testing.T) {
	t.Parallel()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token := "test." + hex.EncodeToString(b)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake := fd.New(t, fd.Options{Token: token, GuildID: "4242"})
	fake.HoldGateway()
	t.Cleanup(fake.ReleaseGateway)
	configPath := writeDiscordConfig(t, t.TempDir(), fake, token, interactionsConfig(pub), `renters = ["discord:1001"]`)
	app := runServe(t, configPath, slog.New(slog.DiscardHandler), nil)
	waitLeading(t, "http://"+app.Addr().String())
	body := waitReady(t, "http://"+app.Addr().String())
	if !strings.Contains(body, `"discord":"degraded"`) {
		t.Errorf("/readyz = %s; want ready, the Discord gateway degraded", body)
	}
}

// waitLeading waits until the serve at base leads: at once on SQLite (no
// election); on PostgreSQL serve starts a follower and runs its leader-only
// work (the watch tick, the Discord gateway) once it wins the election
// (DESIGN §8), alone on its database within seconds.
func waitLeading(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"leader":"follower"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve still a follower after 20 s alone on its database: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
