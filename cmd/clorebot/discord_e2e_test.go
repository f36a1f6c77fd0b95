package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
)

// startDiscordServe runs `serve --sandbox` in-process with the Discord front
// door pointed at a fake Discord, and returns its base URL.
func startDiscordServe(t *testing.T, fake *fd.Server, token string, pub ed25519.PublicKey) string {
	t.Helper()
	configPath := writeDiscordConfig(t, t.TempDir(), fake, token, interactionsConfig(pub), `renters = ["discord:1001"]`)
	app := runServe(t, configPath, slog.New(slog.DiscardHandler), nil)
	return "http://" + app.Addr().String()
}

// interactionsConfig is the [discord] lines of the HTTP interactions
// endpoint (public key pub) and the test guild.
func interactionsConfig(pub ed25519.PublicKey) string {
	return fmt.Sprintf("public_key = %q\nguild_ids = [\"4242\"]\n", hex.EncodeToString(pub))
}

// writeDiscordConfig writes, in dir, the configuration of `serve --sandbox`
// with the Discord front door pointed at fake (bot token token), discord
// more [discord] lines and policy the [policy] lines, and returns its path.
func writeDiscordConfig(t *testing.T, dir string, fake *fd.Server, token, discord, policy string) string {
	t.Helper()
	configPath := filepath.Join(dir, "clorebot.toml")
	writeConfig(t, configPath, sandboxConfig(t, dir)+fmt.Sprintf(`servers = 500
[watch]
interval = "1s"
[discord]
bot_token = %q
application_id = %q
api_url = %q
%s[policy]
%s
`, token, fake.AppID(), fake.URL, discord, policy))
	return configPath
}

func TestServeDiscord(t *testing.T) {
	t.Parallel()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token := "test." + hex.EncodeToString(b)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake := fd.New(t, fd.Options{Token: token, GuildID: "4242"})
	fake.HoldGateway()
	base := startDiscordServe(t, fake, token, pub)

	var readyBody []byte
	ready := func() int {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		readyBody, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// Before the gateway's READY the door is degraded, not ok: with HTTP
	// interactions Discord sends no command over the gateway, so the
	// process stays ready (whether /readyz says 503 then depends only on
	// the first marketplace snapshot). The gateway is the leader's (DESIGN §8).
	waitLeading(t, base)
	if ready(); !strings.Contains(string(readyBody), `"discord":"degraded"`) {
		t.Errorf("/readyz before READY = %s, want discord degraded", readyBody)
	}
	fake.ReleaseGateway()
	fake.WaitFor(t, 10*time.Second, "READY", func() bool { return fake.Connected(1) })
	deadline := time.Now().Add(10 * time.Second)
	for ready() != http.StatusOK || !strings.Contains(string(readyBody), `"discord":"ok"`) {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after READY = %s, want ready with discord ok", readyBody)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fake.WaitFor(t, 10*time.Second, "registration", func() bool {
		return len(fake.Calls("/api/v9/applications/"+fake.AppID()+"/guilds/4242/commands")) == 1
	})

	// HTTP interactions: PING answered with PONG.
	body := `{"id":"p1","application_id":"100","type":1,"token":"t","version":1}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, base+"/discord/interactions", strings.NewReader(body))
	req.Header.Set("X-Signature-Timestamp", ts)
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(priv, []byte(ts+body))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PING: %d", resp.StatusCode)
	}

	// A rent over the gateway reaches the sandbox and the response shows it.
	model := offeredGPU(t, fake, "1001")
	rent := fake.Slash("r1", "rtok1", fd.Who{UserID: "1001"}, "clore", fd.Sub("rent", fd.Str("gpu", model)))
	if err := fake.Interaction(rent); err != nil {
		t.Fatal(err)
	}
	fake.WaitFor(t, 30*time.Second, "the order running", func() bool {
		m, ok := fake.Original("rtok1")
		return ok && strings.Contains(string(m.Body), "is running")
	})
	m, _ := fake.Original("rtok1")
	if !strings.Contains(string(m.Body), "cancel:") {
		t.Errorf("running order without a Cancel button: %s", m.Body)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// offeredGPU asks the rent command's GPU autocomplete as user, through the
// fake gateway, until clorebot offers a model (its marketplace snapshot is
// warm), and returns the first one offered.
func offeredGPU(t *testing.T, fake *fd.Server, user string) string {
	t.Helper()
	var model string
	n := 0
	fake.WaitFor(t, 10*time.Second, "a GPU offered", func() bool {
		n++
		id := "a" + strconv.Itoa(n)
		i := fake.Autocomplete(id, "atok"+id, fd.Who{UserID: user}, "clore", fd.Sub("rent", fd.Focus(fd.Str("gpu", ""))))
		if fake.Interaction(i) != nil {
			return false
		}
		fake.Await(3*time.Second, func() bool { _, ok := fake.Callback(id); return ok })
		c, _ := fake.Callback(id)
		var cb struct {
			Data struct {
				Choices []struct{ Value string } `json:"choices"`
			} `json:"data"`
		}
		_ = jsonUnmarshal(c.Body, &cb)
		if len(cb.Data.Choices) > 0 {
			model = cb.Data.Choices[0].Value
		}
		return model != ""
	})
	return model
}
