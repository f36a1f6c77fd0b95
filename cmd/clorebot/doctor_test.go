package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/contract"
	"github.com/clorebot/clorebot/storage"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// doctorRig is a deployment against the sandbox, a fake Slack, a fake
// Discord, a subscriber and two incoming-webhook receivers, all on loopback.
type doctorRig struct {
	dir        string
	environ    []string
	botToken   string
	appToken   string
	discordTok string
	global     string          // the global commands Discord lists
	revoked    map[string]bool // Slack tokens answered token_revoked
	mu         sync.Mutex
	received   map[string][]string // path → bodies
	subscriber string
}

func newDoctorRig(t *testing.T) *doctorRig {
	t.Helper()
	r := &doctorRig{
		dir:      t.TempDir(),
		botToken: strings.Join([]string{"xoxb", "doctor", "test"}, "-"), appToken: strings.Join([]string{"xapp", "doctor", "test"}, "-"),
		discordTok: strings.Join([]string{"discord", "doctor", "token"}, "."),
		revoked:    map[string]bool{}, received: map[string][]string{}, global: `[{"id":"1","name":"clore"}]`,
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cloreURL, stop, err := sandbox.Start(ctx, sandbox.Options{StatePath: filepath.Join(r.dir, "sb.db"), APIKey: "sandbox-key", Servers: 40})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop() })

	// Slack Web API: form-encoded token, JSON answers.
	slackSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		tok := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		if tok == "" {
			tok = req.Form.Get("token")
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.revoked[tok]:
			fmt.Fprint(w, `{"ok":false,"error":"token_revoked"}`)
		case strings.HasSuffix(req.URL.Path, "/auth.test") && tok == r.botToken:
			fmt.Fprint(w, `{"ok":true,"url":"https://team.slack.example/","team":"Team","user":"clorebot","team_id":"T1","user_id":"U1","bot_id":"B1"}`)
		case strings.HasSuffix(req.URL.Path, "/apps.connections.open") && tok == r.appToken:
			fmt.Fprint(w, `{"ok":true,"url":"wss://wss.slack.example/link"}`)
		default:
			fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
		}
	}))
	t.Cleanup(slackSrv.Close)

	discordSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "Bot "+r.discordTok {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"message": "401: Unauthorized", "code": 0}`)
			return
		}
		switch req.URL.Path {
		case "/api/v9/users/@me":
			fmt.Fprint(w, `{"id":"4242","username":"clorebot"}`)
		case "/api/v9/applications/4242/commands":
			r.mu.Lock()
			fmt.Fprint(w, r.global)
			r.mu.Unlock()
		case "/api/v9/applications/4242/guilds/77/commands":
			fmt.Fprint(w, `[{"id":"2","name":"clore"}]`)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(discordSrv.Close)

	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.received[req.URL.Path] = append(r.received[req.URL.Path], string(b))
		r.mu.Unlock()
		if strings.HasPrefix(req.URL.Path, "/discord") {
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(recv.Close)
	r.subscriber = recv.URL + "/sub"

	r.environ = []string{
		"CLOREBOT_CLORE_API_URL=" + cloreURL, "CLOREBOT_CLORE_API_KEY=sandbox-key",
		"CLOREBOT_SLACK_API_URL=" + slackSrv.URL + "/api/",
		"CLOREBOT_SLACK_BOT_TOKEN=" + r.botToken, "CLOREBOT_SLACK_APP_TOKEN=" + r.appToken,
		"CLOREBOT_DISCORD_API_URL=" + discordSrv.URL + "/", "CLOREBOT_DISCORD_BOT_TOKEN=" + r.discordTok,
		"CLOREBOT_NOTIFY_SLACK_WEBHOOK_URL=" + recv.URL + "/slack/T1/B1/hooktoken",
		"CLOREBOT_NOTIFY_DISCORD_WEBHOOK_URL=" + recv.URL + "/discord/api/webhooks/1/hooktoken",
	}
	r.writeConfig(t, r.subscriber)
	if code, out, stderr := run(t, r.dir, r.environ, "migrate"); code != 0 {
		t.Fatalf("migrate: %d %s %s", code, out, stderr)
	}
	return r
}

func (r *doctorRig) setGlobal(cmds string) {
	r.mu.Lock()
	r.global = cmds
	r.mu.Unlock()
}

func (r *doctorRig) writeConfig(t *testing.T, subscriberURL string) {
	t.Helper()
	conf := fmt.Sprintf(`[[webhook.keys]]
name = "zapier"
secret = "a-long-enough-random-text-secret-0123456789"
roles = ["renter"]

[[webhook.subscribers]]
name = "ops"
url = %q
secret = "subscriber-secret-text-0123456789"
`, subscriberURL)
	if err := os.WriteFile(filepath.Join(r.dir, "clorebot.toml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (r *doctorRig) doctor(t *testing.T, environ []string, args ...string) (int, string) {
	t.Helper()
	merged := append([]string(nil), environ...)
	for _, kv := range r.environ {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(environ, func(o string) bool { return strings.HasPrefix(o, name+"=") }) {
			merged = append(merged, kv)
		}
	}
	code, out, stderr := run(t, r.dir, merged, append([]string{"doctor"}, args...)...)
	for _, secret := range []string{r.botToken, r.appToken, r.discordTok, "sandbox-key", "hooktoken", "0123456789"} {
		if strings.Contains(out+stderr, secret) {
			t.Errorf("doctor printed a secret (%s):\n%s", secret, out)
		}
	}
	return code, out
}

func TestDoctorHealthy(t *testing.T) {
	r := newDoctorRig(t)
	code, out := r.doctor(t, nil)
	if code != 0 || strings.Contains(out, "failed ") || strings.Contains(out, "warning ") {
		t.Fatalf("healthy deployment: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"ok       config     configuration file " + filepath.Join(r.dir, "clorebot.toml") + ": valid",
		"ok       database   " + dbName(t, r.dir) + " writable, migrated",
		"ok       clore      key accepted; wallets:",
		"ok       clock      skew against Clore's Date header:",
		"ok       slack      bot token accepted: clorebot in team Team",
		"ok       slack      app token accepted: Socket Mode possible",
		"ok       discord    bot token accepted: clorebot",
		"ok       discord    /clore is registered globally",
		"ok       webhook    key zapier: secret ok, roles renter",
		"ok       delivery   subscriber ops: 127.0.0.1 reachable",
		"ok       delivery   notify slack: 127.0.0.1 reachable",
		"ok       orders     no active orders",
		"0 warning(s), 0 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(r.received) != 0 {
		t.Errorf("doctor without --send sent %v", r.received)
	}
	// --send: a signed test.ping to the subscriber, a test message to each notify URL.
	code, out = r.doctor(t, nil, "--send")
	if code != 0 || !strings.Contains(out, "subscriber ops: test message answered HTTP 200") ||
		!strings.Contains(out, "notify discord: test message answered HTTP 204") {
		t.Fatalf("--send: exit %d\n%s", code, out)
	}
	var ping struct{ Type string }
	if len(r.received["/sub"]) != 1 || json.Unmarshal([]byte(r.received["/sub"][0]), &ping) != nil || ping.Type != "test.ping" {
		t.Errorf("subscriber got %v", r.received["/sub"])
	} else {
		contract.LoadSchemas(t).Validate(t, "event.json", []byte(r.received["/sub"][0]))
	}
	code, out = r.doctor(t, nil, "--json")
	if code != 0 || !strings.Contains(out, `"failed": 0`) {
		t.Fatalf("--json: exit %d\n%s", code, out)
	}
	contract.LoadSchemas(t).Validate(t, "doctor.json", []byte(out))
	if len(r.received["/slack/T1/B1/hooktoken"]) != 1 || !strings.Contains(r.received["/slack/T1/B1/hooktoken"][0], `"text"`) {
		t.Errorf("slack notify URL got %v", r.received)
	}
}

// With discord.guild_ids, /clore is expected in those guilds, not
// globally: no warning that it is not registered globally; a global one
// beside them is a leftover.
func TestDoctorGuildCommands(t *testing.T) {
	r := newDoctorRig(t)
	r.setGlobal("[]")
	code, out := r.doctor(t, []string{"CLOREBOT_DISCORD_GUILD_IDS=77"})
	if code != 0 || strings.Contains(out, "warning ") || !strings.Contains(out, "ok       discord    /clore is registered in guild 77") {
		t.Fatalf("guild commands: exit %d\n%s", code, out)
	}
	r.setGlobal(`[{"id":"1","name":"clore"}]`)
	if _, out := r.doctor(t, []string{"CLOREBOT_DISCORD_GUILD_IDS=77"}); !strings.Contains(out, "also registered globally") {
		t.Errorf("no warning about a leftover global /clore:\n%s", out)
	}
	if _, out := r.doctor(t, []string{"CLOREBOT_SLACK_TEAM_ID=T9"}); !strings.Contains(out, "slack.team_id T9 is not the bot token's workspace T1") {
		t.Errorf("no warning about slack.team_id:\n%s", out)
	}
}

func TestDoctorFailures(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		setup   func(r *doctorRig, t *testing.T)
		want    string
	}{
		{name: "wrong Clore key", environ: []string{"CLOREBOT_CLORE_API_KEY=not-the-key"},
			want: "failed   clore      Clore refused the API key (code 3, invalid token)"},
		{name: "revoked Slack token", setup: func(r *doctorRig, _ *testing.T) { r.revoked[r.botToken] = true },
			want: "failed   slack      bot token refused by auth.test: token_revoked"},
		{name: "unreachable subscriber", setup: func(r *doctorRig, t *testing.T) {
			gone := httptest.NewServer(http.NotFoundHandler())
			gone.Close()
			r.writeConfig(t, gone.URL+"/hook")
		}, want: "failed   delivery   subscriber ops: 127.0.0.1:"},
		{name: "wrong Discord token", environ: []string{"CLOREBOT_DISCORD_BOT_TOKEN=not.the.token"},
			want: "failed   discord    bot token refused (401)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newDoctorRig(t)
			if tt.setup != nil {
				tt.setup(r, t)
			}
			code, out := r.doctor(t, tt.environ)
			if code != exitFailure || !strings.Contains(out, tt.want) || !strings.Contains(out, "1 failed") {
				t.Fatalf("exit %d, want 1 with %q:\n%s", code, tt.want, out)
			}
			if !strings.Contains(out, "→ ") {
				t.Errorf("no advice on what to do:\n%s", out)
			}
			code, out = r.doctor(t, tt.environ, "--json")
			if code != exitFailure || !strings.Contains(out, `"level": "failed"`) || !strings.Contains(out, `"fix": "`) {
				t.Fatalf("--json: exit %d\n%s", code, out)
			}
			contract.LoadSchemas(t).Validate(t, "doctor.json", []byte(out))
		})
	}
}

func TestDoctorBadConfigAndLooseModes(t *testing.T) {
	r := newDoctorRig(t)
	if !storagetest.Postgres() { // the database file's mode is SQLite's
		if err := os.Chmod(filepath.Join(r.dir, "clorebot.db"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := r.doctor(t, nil)
		if code != 0 || !strings.Contains(out, "warning  database   "+filepath.Join(r.dir, "clorebot.db")+" is mode 0644") ||
			!strings.Contains(out, "chmod 0600") {
			t.Fatalf("loose mode: exit %d\n%s", code, out)
		}
	}
	code, out := r.doctor(t, []string{"CLOREBOT_WATCH_INTERVAL=soon"})
	if code != exitFailure || !strings.Contains(out, "failed   config") || !strings.Contains(out, "watch.interval") {
		t.Fatalf("bad config: exit %d\n%s", code, out)
	}
}

// A configuration file that holds secrets and that group or others may
// read is a warning naming the keys (never their values); the same file
// without secrets (they come from the environment) is not.
func TestDoctorConfigFileReadableByOthers(t *testing.T) {
	r := newDoctorRig(t)
	path := filepath.Join(r.dir, "clorebot.toml")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := r.doctor(t, nil)
	if code != 0 || !strings.Contains(out, "warning  config     "+path+" is mode 0644") ||
		!strings.Contains(out, "webhook.keys[0].secret, webhook.subscribers[0].secret") || !strings.Contains(out, "chmod 600 "+path) {
		t.Fatalf("a world-readable config with secrets: exit %d\n%s", code, out)
	}
	if err := os.WriteFile(path, []byte("[watch]\ninterval = \"60s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, out := r.doctor(t, nil); strings.Contains(out, "warning  config") {
		t.Fatalf("a world-readable config without secrets is warned about:\n%s", out)
	}
	if err := os.WriteFile(path, []byte("[slack]\nbot_token = \""+placeholderSecret+"\"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, out := r.doctor(t, nil); !strings.Contains(out, "mode 0640") || !strings.Contains(out, "slack.bot_token") || strings.Contains(out, placeholderSecret) {
		t.Fatalf("a group-readable config with a token:\n%s", out)
	}
}

// placeholderSecret stands for a secret written in a config file; it has
// no token's shape, and doctor must never print it.
const placeholderSecret = "placeholder-secret-in-the-file"

// Orders past their end get a line each, with their id and how long past;
// the advice depends on whether a serve runs on the database.
func TestDoctorOrdersPastTheirEnd(t *testing.T) {
	r := newDoctorRig(t)
	ctx := context.Background()
	st, err := storage.Open(ctx, testDB(t, r.dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	id := func(v int64) *int64 { return &v }
	for _, o := range []storage.Order{
		{CloreOrderID: id(555), ServerID: 1, GPUModel: "RTX 4090", GPUCount: 2, RequestedBy: "slack:UALICE", State: commands.OrderRunning, ExpiresAt: at(-2*time.Hour - 5*time.Minute)},
		{CloreOrderID: id(556), ServerID: 2, GPUModel: "RTX 3090", GPUCount: 1, RequestedBy: "cli:bob", State: commands.OrderCancelling, ExpiresAt: at(-20 * time.Second)},
		{ServerID: 3, GPUModel: "A100", GPUCount: 1, RequestedBy: "cli:bob", State: commands.OrderProvisioning, ExpiresAt: at(-10 * time.Minute)},
		{CloreOrderID: id(557), ServerID: 4, GPUModel: "RTX 4090", GPUCount: 1, RequestedBy: "cli:bob", State: commands.OrderRunning, ExpiresAt: at(time.Hour)},
		{CloreOrderID: id(558), ServerID: 5, GPUModel: "RTX 4090", GPUCount: 1, RequestedBy: "cli:bob", State: commands.OrderCancelled, ExpiresAt: at(-time.Hour)},
	} {
		if err := st.CreateOrder(ctx, &o); err != nil {
			t.Fatal(err)
		}
	}

	code, out := r.doctor(t, nil)
	for _, want := range []string{
		"failed   orders     order #555 (RTX 4090 ×2, slack:UALICE) is 2h5m past its end (",
		"→ no clorebot serve runs on this database to cancel it: start one, or clorebot exec cancel 555",
		"failed   orders     order #556 (RTX 3090 ×1, cli:bob) is 2?s past its end", // 20s, or more on a slow machine
		"failed   orders     order with local id 3 (A100 ×1, cli:bob) is 10m past its end",
		"cancel it on clore.ai (its Clore id is not known yet)",
		"3 failed",
	} {
		if code != exitFailure || !containsPattern(out, want) {
			t.Errorf("exit %d, want 1 and %q:\n%s", code, want, out)
		}
	}
	for _, never := range []string{"#557", "#558"} {
		if strings.Contains(out, never) {
			t.Errorf("order %s listed:\n%s", never, out)
		}
	}

	// A serve runs: what just passed is its next tick's; what passed long
	// ago is a serve that does not cancel.
	if err := st.BeatServe(ctx, storage.ServeProcess{ID: "serve-x", PID: 777, Host: "ops"}); err != nil {
		t.Fatal(err)
	}
	code, out = r.doctor(t, nil)
	for _, want := range []string{
		"failed   orders     order #555",
		"→ serve (pid 777, host ops) runs but has not cancelled it: see its log; or clorebot exec cancel 555",
		"warning  orders     order #556 (RTX 3090 ×1, cli:bob) is 2?s past its end",
		"→ serve (pid 777, host ops) cancels it at its next tick",
	} {
		if code != exitFailure || !containsPattern(out, want) {
			t.Errorf("with a serve: exit %d, want 1 and %q:\n%s", code, want, out)
		}
	}
}

// containsPattern reports whether out contains want, where a "?" in want
// stands for any one digit (a duration that a slow machine makes longer).
func containsPattern(out, want string) bool {
	if !strings.Contains(want, "?") {
		return strings.Contains(out, want)
	}
	re := regexp.MustCompile(strings.ReplaceAll(regexp.QuoteMeta(want), `\?`, `[0-9]`))
	return re.MatchString(out)
}
