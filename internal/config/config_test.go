package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsValidity(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantKey string // "" = valid
	}{
		{name: "sandbox", edit: func(c *Config) { c.Clore.Sandbox = true }},
		{name: "api key", edit: func(c *Config) { c.Clore.APIKey = "k" }},
		{name: "neither", edit: func(*Config) {}, wantKey: "clore.api_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			wantKey := "config: clore.api_key: required unless clore.sandbox is true " +
				"(set CLOREBOT_CLORE_API_KEY or CLOREBOT_CLORE_API_KEY_FILE)"
			if err == nil || err.Error() != wantKey {
				t.Fatalf("Validate() = %v, want %q", err, wantKey)
			}
		})
	}
}

func TestDataDirAndSandboxStatePath(t *testing.T) {
	tests := []struct {
		storage, state string
		dir, want      string
	}{
		{"clorebot.db", "", ".", "clorebot-sandbox.db"},
		{"/var/lib/clorebot/bot.db", "", "/var/lib/clorebot", "/var/lib/clorebot/clorebot-sandbox.db"},
		{"data/bot.db", "/tmp/sb.db", "data", "/tmp/sb.db"},
	}
	for _, tt := range tests {
		c := Defaults()
		c.Storage.Path, c.Sandbox.StatePath = tt.storage, tt.state
		if got := c.DataDir(); got != tt.dir {
			t.Errorf("DataDir(%q) = %q, want %q", tt.storage, got, tt.dir)
		}
		if got := c.SandboxStatePath(); got != filepath.FromSlash(tt.want) {
			t.Errorf("SandboxStatePath(%q, %q) = %q, want %q", tt.storage, tt.state, got, tt.want)
		}
	}
}

func TestRedactedHidesSecrets(t *testing.T) {
	c := sandboxed()
	secrets := map[string]*Secret{
		"clore-key-1f2e":     &c.Clore.APIKey,
		"xapp-app-3c4d":      &c.Slack.AppToken,
		"xoxb-bot-5e6f":      &c.Slack.BotToken,
		"slack-signing-7a8b": &c.Slack.SigningSecret,
		"discord-token-9c0d": &c.Discord.BotToken,
	}
	for value, s := range secrets {
		*s = Secret(value)
	}
	c.Webhook.Keys = []WebhookKey{{Name: "zapier", Secret: "whsec_hook-key-secret", Roles: []string{"renter"}}}
	c.Webhook.Subscribers = []WebhookSubscriber{{URL: "https://hooks.example.com/x", Secret: "subscriber-secret-42"}}
	c.HTTP.Listen = "127.0.0.1:9999"
	c.Policy.Admins = []string{"slack:UADMIN"}

	out := c.Redacted()
	for _, value := range []string{"clore-key-1f2e", "xapp-app-3c4d", "xoxb-bot-5e6f", "slack-signing-7a8b",
		"discord-token-9c0d", "whsec_hook-key-secret", "subscriber-secret-42"} {
		if strings.Contains(out, value) {
			t.Errorf("Redacted() shows secret %q:\n%s", value, out)
		}
	}
	for _, want := range []string{
		`api_key = "[redacted]"`, `bot_token = "[redacted]"`, `secret = "[redacted]"`,
		`listen = "127.0.0.1:9999"`, `admins = ["slack:UADMIN"]`, `name = "zapier"`,
		`url = "https://hooks.example.com/x"`, `interval = "1m"`, `sandbox = true`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Redacted() lacks %s:\n%s", want, out)
		}
	}
}

// URLs may carry tokens in their user info or query: config check shows
// neither.
func TestRedactedHidesURLCredentials(t *testing.T) {
	c := sandboxed()
	c.Clore.APIURL = "https://proxy.example/v1?auth=clore-tok-77"
	c.Slack.APIURL = "https://slack-user:slack-pass-55@slack.example/api/"
	c.Webhook.Subscribers = []WebhookSubscriber{
		{URL: "https://hookuser:hook-pass-66@hooks.example.com/in?token=hook-tok-88&x=1#frag-99", Secret: "s1"},
	}
	out := c.Redacted()
	for _, value := range []string{"clore-tok-77", "slack-user", "slack-pass-55", "hookuser", "hook-pass-66", "hook-tok-88", "frag-99"} {
		if strings.Contains(out, value) {
			t.Errorf("Redacted() shows %q:\n%s", value, out)
		}
	}
	for _, want := range []string{
		`api_url = "https://proxy.example/v1?auth=[redacted]"`,
		`api_url = "https://[redacted]@slack.example/api/"`,
		`url = "https://[redacted]@hooks.example.com/in?token=[redacted]&x=[redacted]"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Redacted() lacks %s:\n%s", want, out)
		}
	}
	if c.Webhook.Subscribers[0].URL != "https://hookuser:hook-pass-66@hooks.example.com/in?token=hook-tok-88&x=1#frag-99" {
		t.Error("Redacted() changed the configuration")
	}
}

func TestRedactedEmptySecretIsEmpty(t *testing.T) {
	c := sandboxed()
	out := c.Redacted()
	if strings.Contains(out, redacted) {
		t.Errorf("unset secrets render as %q:\n%s", redacted, out)
	}
	if !strings.Contains(out, `api_key = ""`) {
		t.Errorf("Redacted() lacks the empty api_key:\n%s", out)
	}
}

func TestRedactedRoundTrips(t *testing.T) {
	c := sandboxed()
	c.Policy.Renters = []string{"discord:123"}
	got := Defaults()
	if err := decodeFile(&got, "redacted.toml", []byte(c.Redacted())); err != nil {
		t.Fatalf("decode Redacted(): %v", err)
	}
	if got.Policy.Renters[0] != "discord:123" || !got.Clore.Sandbox {
		t.Errorf("round trip lost values: %+v", got.Policy)
	}
}

func TestFieldTable(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range fields() {
		if f.Key == "" || strings.Contains(f.Key, "..") {
			t.Errorf("bad key %q", f.Key)
		}
		for _, name := range []string{f.Env, f.EnvFile()} {
			if f.Env == "" {
				break
			}
			if seen[name] {
				t.Errorf("environment variable %s names two keys", name)
			}
			seen[name] = true
		}
	}
	if seen[envConfigPath] {
		t.Errorf("%s collides with a key", envConfigPath)
	}
}

// The money-safety keys of issue 19 default to DESIGN §4's values.
func TestCloreMoneyDefaults(t *testing.T) {
	c := Defaults().Clore
	if c.ProvisionTimeout.Duration != 9*time.Minute || c.RenterFeeOnDemand != 0.10 || c.RenterFeeSpot != 0.025 {
		t.Errorf("provision_timeout %s, renter fees %v / %v; want 9m, 0.10 / 0.025",
			c.ProvisionTimeout, c.RenterFeeOnDemand, c.RenterFeeSpot)
	}
}

// Against real Clore, a provision timeout from the environment that reaches
// the creation-fee grace stops the start, naming the key.
func TestProvisionTimeoutFromEnvironment(t *testing.T) {
	_, err := Load(LoadOptions{Path: t.TempDir() + "/absent.toml",
		Environ: []string{"CLOREBOT_CLORE_API_KEY=k", "CLOREBOT_CLORE_PROVISION_TIMEOUT=15m"}})
	wantKeyError(t, err, "clore.provision_timeout", "under 10m", "got 15m")
	c, err := Load(LoadOptions{Path: t.TempDir() + "/absent.toml",
		Environ: []string{"CLOREBOT_CLORE_SANDBOX=true", "CLOREBOT_CLORE_PROVISION_TIMEOUT=15m"}})
	if err != nil || c.Clore.ProvisionTimeout.Duration != 15*time.Minute {
		t.Fatalf("sandbox with 15m: %v, %v", c, err)
	}
}
