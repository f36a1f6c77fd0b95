package config

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"
)

func loadEnv(t *testing.T, environ ...string) (*Config, error) {
	t.Helper()
	return Load(LoadOptions{Path: t.TempDir() + "/absent.toml", Environ: append(environ, sandboxEnv)})
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		env  string
		got  func(*Config) any
		want any
	}{
		{"CLOREBOT_HTTP_LISTEN=127.0.0.1:9000", func(c *Config) any { return c.HTTP.Listen }, "127.0.0.1:9000"},
		{"CLOREBOT_CLORE_API_KEY=env-key", func(c *Config) any { return c.Clore.APIKey.Reveal() }, "env-key"},
		{"CLOREBOT_WEBHOOK_LEGACY_SIGNATURES=false", func(c *Config) any { return c.Webhook.LegacySignatures }, false},
		{"CLOREBOT_CLORE_MAX_RETRIES=7", func(c *Config) any { return c.Clore.MaxRetries }, 7},
		{"CLOREBOT_POLICY_MAX_PRICE_PER_HOUR=1.25", func(c *Config) any { return c.Policy.MaxPricePerHour }, 1.25},
		{"CLOREBOT_WATCH_INTERVAL=30s", func(c *Config) any { return c.Watch.Interval.Duration }, 30 * time.Second},
		{"CLOREBOT_POLICY_ADMINS=slack:U1, cli:alice,,", func(c *Config) any { return c.Policy.Admins }, []string{"slack:U1", "cli:alice"}},
		{"CLOREBOT_DISCORD_GUILD_IDS=", func(c *Config) any { return c.Discord.GuildIDs }, []string{}},
		{"CLOREBOT_SANDBOX_STATE_PATH=/tmp/sb.db", func(c *Config) any { return c.SandboxStatePath() }, "/tmp/sb.db"},
		{"CLOREBOT_CLORE_PROVISION_TIMEOUT=5m", func(c *Config) any { return c.Clore.ProvisionTimeout.Duration }, 5 * time.Minute},
		{"CLOREBOT_CLORE_RENTER_FEE_ON_DEMAND=0.05", func(c *Config) any { return c.Clore.RenterFeeOnDemand }, 0.05},
		{"CLOREBOT_CLORE_RENTER_FEE_SPOT=0.0125", func(c *Config) any { return c.Clore.RenterFeeSpot }, 0.0125},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			c, err := loadEnv(t, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestEnvOverridesFile(t *testing.T) {
	c, err := loadTOML(t, "[http]\nlisten = \":1111\"\n", sandboxEnv, "CLOREBOT_HTTP_LISTEN=:2222")
	if err != nil || c.HTTP.Listen != ":2222" {
		t.Fatalf("listen = %v, %v; want the environment to win", c, err)
	}
}

func TestEnvErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		env, key  string
		fragments []string
	}{
		{"CLOREBOT_WATCH_INTERVAL=5x", "watch.interval", []string{`invalid duration "5x"`, "CLOREBOT_WATCH_INTERVAL"}},
		{"CLOREBOT_CLORE_MAX_RETRIES=ten", "clore.max_retries", []string{`want an integer, got "ten"`}},
		{"CLOREBOT_CLORE_SANDBOX=yes", "clore.sandbox", []string{"want true or false"}},
		{"CLOREBOT_POLICY_MIN_RELIABILITY=high", "policy.min_reliability", []string{"want a number"}},
		{"CLOREBOT_POLICY_MAX_HOURS=NaN", "policy.max_hours", []string{"finite"}},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, err := loadEnv(t, tt.env)
			wantKeyError(t, err, tt.key, tt.fragments...)
		})
	}
}

func TestEnvIgnoresOthers(t *testing.T) {
	_, err := loadEnv(t, "CLOREBOT_CONFIG=/etc/clorebot.toml", "HOME=/root", "clorebot_lower=1", "NOEQUALS")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
}

func TestEnvFirstWins(t *testing.T) {
	c, err := loadEnv(t, "CLOREBOT_HTTP_LISTEN=:1", "CLOREBOT_HTTP_LISTEN=:2")
	if err != nil || c.HTTP.Listen != ":1" {
		t.Fatalf("listen = %v, %v; want :1", c, err)
	}
}

func TestEnvSecretFile(t *testing.T) {
	path := writeFile(t, "clore.key", "file-key-123\n")
	c, err := Load(LoadOptions{Path: t.TempDir() + "/absent.toml", Environ: []string{"CLOREBOT_CLORE_API_KEY_FILE=" + path}})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Clore.APIKey.Reveal(); got != "file-key-123" {
		t.Errorf("api_key = %q, want the file's content without newline", got)
	}

	_, err = loadEnv(t, "CLOREBOT_SLACK_BOT_TOKEN=a", "CLOREBOT_SLACK_BOT_TOKEN_FILE="+path)
	wantKeyError(t, err, "slack.bot_token", "set either CLOREBOT_SLACK_BOT_TOKEN or CLOREBOT_SLACK_BOT_TOKEN_FILE, not both")

	_, err = loadEnv(t, "CLOREBOT_DISCORD_BOT_TOKEN_FILE=/does/not/exist")
	wantKeyError(t, err, "discord.bot_token", "CLOREBOT_DISCORD_BOT_TOKEN_FILE", "/does/not/exist")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error does not wrap the cause: %v", err)
	}
}

func TestEnvUnknownAndFileTogether(t *testing.T) {
	_, err := loadTOML(t, "tomato = 1\n", "CLOREBOT_WATCH_INTERVAL=5x")
	keys := map[string]bool{}
	for _, ke := range keyErrors(err) {
		keys[ke.Key] = true
	}
	if !keys["tomato"] || !keys["watch.interval"] {
		t.Fatalf("want both the file's and the environment's problem, got:\n%v", err)
	}
	if strings.Contains(err.Error(), "clore.api_key") {
		t.Errorf("validation ran although loading failed:\n%v", err)
	}
}

// Kubernetes adds service-link variables for a Service named clorebot:
// each unknown CLOREBOT_ variable is one warning line, never a failure, and
// the warning does not quote the value.
func TestEnvUnknownVariablesOnlyWarn(t *testing.T) {
	environ := []string{
		"CLOREBOT_PORT=tcp://10.96.0.12:8080",
		"CLOREBOT_PORT_8080_TCP=tcp://10.96.0.12:8080",
		"CLOREBOT_PORT_8080_TCP_ADDR=10.96.0.12",
		"CLOREBOT_PORT_8080_TCP_PORT=8080",
		"CLOREBOT_PORT_8080_TCP_PROTO=tcp",
		"CLOREBOT_SERVICE_HOST=10.96.0.12",
		"CLOREBOT_SERVICE_PORT=8080",
		"CLOREBOT_SERVICE_PORT_HTTP=8080",
		"CLOREBOT_HTTP_LISTEN_FILE=/x",
		"CLOREBOT_HTTP_LISTEN=:9090",
		sandboxEnv,
	}
	var warnings []string
	c, err := Load(LoadOptions{Path: t.TempDir() + "/absent.toml", Environ: environ,
		Warn: func(msg string) { warnings = append(warnings, msg) }})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.HTTP.Listen != ":9090" {
		t.Errorf("listen = %q; known variables still apply", c.HTTP.Listen)
	}
	if len(warnings) != 9 {
		t.Fatalf("%d warnings, want one per unknown variable (9):\n%s", len(warnings), strings.Join(warnings, "\n"))
	}
	for i, w := range warnings {
		name, _, _ := strings.Cut(environ[i], "=")
		if !strings.HasPrefix(w, "config: "+name+": unknown environment variable, ignored") || strings.Contains(w, "10.96") || strings.Contains(w, "\n") {
			t.Errorf("warning %q", w)
		}
	}
	if !strings.Contains(warnings[8], "http.listen is not a secret") {
		t.Errorf("warning %q does not say why", warnings[8])
	}
}
