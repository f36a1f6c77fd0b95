package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const sandboxEnv = "CLOREBOT_CLORE_SANDBOX=true"

func TestLoadMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.toml")

	_, err := Load(LoadOptions{Path: missing, PathExplicit: true, Environ: []string{sandboxEnv}})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("explicit missing file: err = %v, want a not-exist error naming the path", err)
	}

	c, err := Load(LoadOptions{Path: missing, Environ: []string{sandboxEnv}})
	if err != nil {
		t.Fatalf("implicit missing file: %v", err)
	}
	want := sandboxed()
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("implicit missing file: got %+v, want defaults with sandbox", *c)
	}
}

func TestLoadDefaultPath(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := Load(LoadOptions{Override: func(c *Config) { c.Clore.Sandbox = true }})
	if err != nil || !c.Clore.Sandbox {
		t.Fatalf("no clorebot.toml, --sandbox: %v", err)
	}
	if err := os.WriteFile(DefaultPath, []byte("[http]\nlisten = \":9090\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(LoadOptions{Environ: []string{sandboxEnv}})
	if err != nil || c.HTTP.Listen != ":9090" {
		t.Fatalf("clorebot.toml in the working directory was not read: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	c, err := loadTOML(t, `
[clore]
api_key = "k"
timeout = "10s"
max_retries = 5

[policy]
admins = ["slack:U1", "cli:alice"]
max_price_per_hour = 3   # an integer is a fine float

[[webhook.keys]]
name = "zapier"
secret = "change-me"
roles = ["renter"]

[[webhook.subscribers]]
url = "https://hooks.example.com/a"
secret = "change-me-too"
events = ["order.running"]
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Clore.APIKey.Reveal() != "k" || c.Clore.Timeout.Duration != 10*time.Second || c.Clore.MaxRetries != 5 {
		t.Errorf("clore = %+v", c.Clore)
	}
	if !reflect.DeepEqual(c.Policy.Admins, []string{"slack:U1", "cli:alice"}) || c.Policy.MaxPricePerHour != 3 {
		t.Errorf("policy = %+v", c.Policy)
	}
	if len(c.Webhook.Keys) != 1 || c.Webhook.Keys[0].Secret.Reveal() != "change-me" {
		t.Errorf("webhook keys = %+v", c.Webhook.Keys)
	}
	if len(c.Webhook.Subscribers) != 1 || c.Webhook.Subscribers[0].Events[0] != "order.running" {
		t.Errorf("webhook subscribers = %+v", c.Webhook.Subscribers)
	}
	if c.HTTP.Listen != ":8080" {
		t.Errorf("unset key lost its default: listen = %q", c.HTTP.Listen)
	}
}

func TestLoadFileErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, file, key string
		fragments       []string
	}{
		{"unknown top-level key", "tomato = 1\n", "tomato", []string{"unknown key", "line 1"}},
		{"unknown section", "[clore]\nsandbox = true\n\n[tomato]\nx = 1\n", "tomato", []string{"unknown key", "line 4"}},
		{"unknown key in section", "[clore]\nsandbox = true\napi_keey = \"x\"\n", "clore.api_keey", []string{"unknown key", "line 3"}},
		{"unknown key in webhook key", "[clore]\nsandbox = true\n[[webhook.keys]]\nname = \"a\"\nsecret = \"s\"\n[[webhook.keys]]\nname = \"b\"\nsecret = \"s\"\nrole = [\"x\"]\n",
			"webhook.keys[1].role", []string{"unknown key", "line 9"}},
		{"bad duration", "[watch]\ninterval = \"5x\"\n", "watch.interval", []string{`invalid duration "5x"`, "line 2"}},
		{"duration as number", "[watch]\ninterval = 30\n", "watch.interval", []string{"want a duration", "got integer 30"}},
		{"string for int", "[clore]\nmax_retries = \"ten\"\n", "clore.max_retries", []string{"want an integer", `got string "ten"`, "line 2"}},
		{"float for int", "[policy]\nmax_active_orders = 2.5\n", "policy.max_active_orders", []string{"want an integer", "got float 2.5"}},
		{"string for bool", "[clore]\nsandbox = \"yes\"\n", "clore.sandbox", []string{"want true or false"}},
		{"string for float", "[policy]\nmax_price_per_hour = \"cheap\"\n", "policy.max_price_per_hour", []string{"want a number"}},
		{"string for list", "[policy]\nadmins = \"slack:U1\"\n", "policy.admins", []string{"want an array of strings"}},
		{"number in list", "[policy]\nadmins = [\"slack:U1\", 2]\n", "policy.admins", []string{"element 1 is integer"}},
		{"section as value", "clore = 1\n", "clore", []string{"want a table"}},
		{"keys as table", "[webhook.keys]\nname = \"a\"\n", "webhook.keys", []string{"want an array of tables"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadTOML(t, tt.file, sandboxEnv)
			wantKeyError(t, err, tt.key, tt.fragments...)
		})
	}
}

func TestLoadFileReportsEveryProblem(t *testing.T) {
	_, err := loadTOML(t, "tomato = 1\n[clore]\nmax_retries = \"x\"\n[watch]\ninterval = \"5x\"\n")
	if got := len(keyErrors(err)); got != 3 {
		t.Fatalf("got %d problems, want 3:\n%v", got, err)
	}
}

func TestLoadFileSecretTypeErrorHidesValue(t *testing.T) {
	tests := []struct{ file, key, got string }{
		{"[clore]\napi_key = 987654321\n", "clore.api_key", "got integer"},
		{"[slack]\nbot_token = 987654321.5\n", "slack.bot_token", "got float"},
		{"[discord]\nbot_token = [\"987654321\"]\n", "discord.bot_token", "got array"},
		{"[[webhook.keys]]\nname = \"a\"\nsecret = { v = \"987654321\" }\n", "webhook.keys[0].secret", "got table"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, err := loadTOML(t, tt.file, sandboxEnv)
			wantKeyError(t, err, tt.key, "want a string", tt.got)
			if strings.Contains(err.Error(), "987654321") {
				t.Errorf("error shows the secret's value: %v", err)
			}
		})
	}
}

func TestLoadFileSyntaxError(t *testing.T) {
	_, err := loadTOML(t, "[clore\napi_key = \n")
	if err == nil || !strings.Contains(err.Error(), "clorebot.toml") || !strings.Contains(err.Error(), "line") {
		t.Fatalf("syntax error = %v, want the file and line", err)
	}
}

func TestLoadFileCaseSensitive(t *testing.T) {
	_, err := loadTOML(t, "[clore]\nSandbox = true\n", sandboxEnv)
	wantKeyError(t, err, "clore.Sandbox", "unknown key")
}

func TestWebhookSecretFile(t *testing.T) {
	path := writeFile(t, "zapier.secret", "from-file\n")
	c, err := loadTOML(t, "[[webhook.keys]]\nname = \"zapier\"\nsecret_file = \""+filepath.ToSlash(path)+"\"\n", sandboxEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Webhook.Keys[0].Secret.Reveal(); got != "from-file" {
		t.Errorf("secret = %q, want from-file", got)
	}

	_, err = loadTOML(t, "[[webhook.subscribers]]\nurl = \"https://x.example\"\nsecret = \"a\"\nsecret_file = \""+filepath.ToSlash(path)+"\"\n", sandboxEnv)
	wantKeyError(t, err, "webhook.subscribers[0].secret_file", "not both")

	_, err = loadTOML(t, "[[webhook.keys]]\nname = \"z\"\nsecret_file = \"/does/not/exist\"\n", sandboxEnv)
	wantKeyError(t, err, "webhook.keys[0].secret_file", "read secret file", "/does/not/exist")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error does not wrap the cause: %v", err)
	}
}

func TestLoadOverrideRunsBeforeValidate(t *testing.T) {
	c, err := Load(LoadOptions{Path: filepath.Join(t.TempDir(), "x.toml"), Override: func(c *Config) {
		c.Clore.Sandbox = true
	}})
	if err != nil || !c.Clore.Sandbox {
		t.Fatalf("Load with --sandbox override: %v", err)
	}
	_, err = Load(LoadOptions{Path: filepath.Join(t.TempDir(), "x.toml")})
	wantKeyError(t, err, "clore.api_key", "required unless clore.sandbox is true")
}

// The workspace and guild binding keys read from the file and from the
// environment (DESIGN.md §4), with their defaults.
func TestLoadWorkspaceBinding(t *testing.T) {
	c, err := Load(LoadOptions{Environ: []string{sandboxEnv}, Path: filepath.Join(t.TempDir(), "none.toml")})
	if err != nil || c.Slack.TeamID != "" || c.Discord.AllowDMs {
		t.Fatalf("defaults: team %q, allow_dms %v, %v", c.Slack.TeamID, c.Discord.AllowDMs, err)
	}
	c, err = loadTOML(t, "[clore]\nsandbox = true\n[slack]\nteam_id = \"T9\"\n[discord]\nallow_dms = true\n")
	if err != nil || c.Slack.TeamID != "T9" || !c.Discord.AllowDMs {
		t.Fatalf("file: team %q, allow_dms %v, %v", c.Slack.TeamID, c.Discord.AllowDMs, err)
	}
	c, err = Load(LoadOptions{Path: filepath.Join(t.TempDir(), "none.toml"),
		Environ: []string{sandboxEnv, "CLOREBOT_SLACK_TEAM_ID=T8", "CLOREBOT_DISCORD_ALLOW_DMS=true"}})
	if err != nil || c.Slack.TeamID != "T8" || !c.Discord.AllowDMs {
		t.Fatalf("environment: team %q, allow_dms %v, %v", c.Slack.TeamID, c.Discord.AllowDMs, err)
	}
}

// A relative storage.path, written in the file or the default, is relative
// to the configuration file's directory; one from the environment, or with
// no file, stays as given (the working directory's).
func TestRelativeStoragePathFollowsTheFile(t *testing.T) {
	dir := t.TempDir()
	withPath := filepath.Join(dir, "with.toml")
	without := filepath.Join(dir, "without.toml")
	for p, text := range map[string]string{withPath: "[clore]\nsandbox = true\n[storage]\npath = \"data/bot.db\"\n",
		without: "[clore]\nsandbox = true\n"} {
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, path string
		environ    []string
		want       string
		given      string
	}{
		{"written in the file", withPath, nil, filepath.Join(dir, "data", "bot.db"), "data/bot.db"},
		{"the default, with a file", without, nil, filepath.Join(dir, "clorebot.db"), "clorebot.db"},
		{"from the environment", withPath, []string{"CLOREBOT_STORAGE_PATH=env.db"}, "env.db", ""},
		{"no file", filepath.Join(dir, "absent.toml"), []string{"CLOREBOT_CLORE_SANDBOX=true"}, "clorebot.db", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(LoadOptions{Path: tt.path, Environ: tt.environ})
			if err != nil {
				t.Fatal(err)
			}
			if c.Storage.Path != tt.want || c.Storage.Given != tt.given {
				t.Errorf("storage.path = %q (given %q), want %q (given %q)", c.Storage.Path, c.Storage.Given, tt.want, tt.given)
			}
		})
	}
}

// A policy list accepts the identities of a front door the process can
// build (LoadOptions.Platforms) besides the built-in ones; without it they
// are refused, and the message names it once it is known.
func TestLoadAcceptsTheDoorsPlatforms(t *testing.T) {
	path := writeFile(t, "clorebot.toml", "[clore]\nsandbox = true\n[policy]\nrenters = [\"teams:1\"]\n")
	_, err := Load(LoadOptions{Path: path, PathExplicit: true})
	if err == nil || !strings.Contains(err.Error(), "platform must be one of slack, discord, discord-role, webhook, cli") {
		t.Fatalf("teams:1 without the teams door: %v", err)
	}
	if _, err := Load(LoadOptions{Path: path, PathExplicit: true, Platforms: []string{"slack", "teams"}}); err != nil {
		t.Fatalf("teams:1 with the teams door: %v", err)
	}
	path = writeFile(t, "clorebot2.toml", "[clore]\nsandbox = true\n[policy]\nrenters = [\"matrix:1\"]\n")
	_, err = Load(LoadOptions{Path: path, PathExplicit: true, Platforms: []string{"teams"}})
	if err == nil || !strings.Contains(err.Error(), "platform must be one of slack, discord, discord-role, webhook, cli, teams") {
		t.Fatalf("matrix:1 with the teams door only: %v", err)
	}
}
