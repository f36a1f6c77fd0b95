package slackbot

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/slackbot/slacktest"
)

// startBound runs a Bot (Socket Mode and HTTP mode) against a fake Slack
// whose bot token belongs to workspace T1 of org E1, app A1.
func startBound(t *testing.T, svc *stubService, teamID string) (*Bot, *slacktest.Server, string) {
	t.Helper()
	secret := strings.Repeat("s3", 16)
	fake := slacktest.New(slacktest.Options{AppToken: appToken, BotToken: botToken, PingEvery: 50 * time.Millisecond,
		TeamID: "T1", TeamName: "acme", EnterpriseID: "E1", AppID: "A1", BotID: "B1"})
	t.Cleanup(fake.Close)
	b := New(Options{AppToken: appToken, BotToken: botToken, SigningSecret: secret, APIURL: fake.APIURL(),
		Service: svc, TeamID: teamID, PingTimeout: 400 * time.Millisecond, MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if !fake.WaitConnected(1, wait) {
		t.Fatal("never connected")
	}
	return b, fake, secret
}

// Requests from another workspace, another org or another app are refused
// ephemerally, naming the workspace served, and never reach the command
// layer: over Socket Mode and HTTP mode, typed and clicked.
func TestForeignWorkspaceRefused(t *testing.T) {
	svc := &stubService{}
	b, fake, secret := startBound(t, svc, "")
	deadline := time.Now().Add(wait)
	for b.Ready(context.Background()) != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Ready(context.Background()); err != nil {
		t.Fatalf("not ready once connected and bound: %v", err)
	}
	foreign := []struct {
		name string
		edit func(map[string]any)
	}{
		{"other team", func(p map[string]any) { p["team_id"] = "T2" }},
		{"no team", func(p map[string]any) { delete(p, "team_id") }},
		{"other org", func(p map[string]any) { p["enterprise_id"] = "E2" }},
		{"no org", func(p map[string]any) { delete(p, "enterprise_id") }},
		{"other app", func(p map[string]any) { p["api_app_id"] = "A2" }},
	}
	for i, tt := range foreign {
		t.Run("socket "+tt.name, func(t *testing.T) {
			env := "fw-" + string(rune('a'+i))
			p := fake.Slash("U1", "C1", "rent 4090", "trig-"+env)
			tt.edit(p)
			if err := fake.Send(slacktest.Envelope(env, "slash_commands", p, 0)); err != nil {
				t.Fatal(err)
			}
			a, ok := fake.WaitAck(env, wait)
			if !ok || !strings.Contains(string(a.Payload), "serves only the Slack workspace acme (T1)") ||
				!strings.Contains(string(a.Payload), `"response_type":"ephemeral"`) {
				t.Fatalf("ack %s, %v; want an ephemeral refusal naming acme (T1)", a.Payload, ok)
			}
		})
		t.Run("http "+tt.name, func(t *testing.T) {
			p := fake.Slash("U1", "C1", "status", "trig-h"+tt.name)
			tt.edit(p)
			form := url.Values{}
			for k, v := range p {
				form.Set(k, v.(string))
			}
			code, got := postSigned(t, b.CommandsHandler(), secret, form.Encode())
			if code != http.StatusOK || !strings.Contains(got, "serves only the Slack workspace acme (T1)") {
				t.Fatalf("%d %s; want a refusal", code, got)
			}
		})
	}
	// A click from another team: acknowledged, refused through its
	// response_url, not handled.
	click := fake.Click("U1", "C1", "1700000000.000100", "cancel:42", "", "trig-click")
	click["team"] = map[string]any{"id": "T2", "domain": "evil"}
	if err := fake.Send(slacktest.Envelope("fw-click", "interactive", click, 0)); err != nil {
		t.Fatal(err)
	}
	rs, ok := fake.WaitResponses(wait, func(rs []slacktest.Response) bool {
		for _, r := range rs {
			if strings.HasSuffix(r.Path, "act-trig-click") {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no refusal at the click's response_url: %+v", rs)
	}
	for _, r := range rs {
		if strings.HasSuffix(r.Path, "act-trig-click") {
			raw, _ := json.Marshal(r.Body)
			if !strings.Contains(string(raw), "acme (T1)") || r.Body["response_type"] != "ephemeral" {
				t.Errorf("click refusal %s", raw)
			}
		}
	}
	// The same from our workspace is served.
	helpRoundTrip(t, fake, "fw-ours")
	for _, req := range svc.requests() {
		if req.Text != "help" {
			t.Errorf("a foreign request reached the command layer: %+v", req)
		}
	}
}

// slack.team_id set: requests from the configured team are served even
// though the bot token's own team differs (logged), others refused.
func TestConfiguredTeamServed(t *testing.T) {
	svc := &stubService{}
	_, fake, _ := startBound(t, svc, "T7")
	p := fake.Slash("U1", "C1", "help", "trig-t7")
	p["team_id"] = "T7"
	if err := fake.Send(slacktest.Envelope("t7", "slash_commands", p, 0)); err != nil {
		t.Fatal(err)
	}
	if a, ok := fake.WaitAck("t7", wait); !ok || !strings.Contains(string(a.Payload), "help for help") {
		t.Fatalf("configured team refused: %s", a.Payload)
	}
	if err := fake.Send(slacktest.Envelope("t1", "slash_commands", fake.Slash("U1", "C1", "help", "trig-t1"), 0)); err != nil {
		t.Fatal(err)
	}
	if a, ok := fake.WaitAck("t1", wait); !ok || !strings.Contains(string(a.Payload), "serves only the Slack workspace T7") {
		t.Fatalf("token's team served though slack.team_id is T7: %s", a.Payload)
	}
}

// postSigned posts a signed form to h.
func postSigned(t *testing.T, h http.Handler, secret, body string) (int, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	req.Header = sign(secret, time.Now().Unix(), body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}
