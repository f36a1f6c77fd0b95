package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// SecretsInFile names the secrets a file sets itself, never those of the
// environment, and no empty one.
func TestSecretsInFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clorebot.toml")
	data := `[clore]
api_key = "k-123"
[slack]
bot_token = ""
signing_secret = "s"
[[webhook.keys]]
name = "zapier"
secret_file = "/run/secrets/zapier"
[[webhook.keys]]
name = "cron"
secret = "a-long-enough-random-text-secret"
[notify]
discord_webhook_url = "https://discord.example/api/webhooks/1/t"
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := SecretsInFile(path)
	want := []string{"clore.api_key", "slack.signing_secret", "webhook.keys[1].secret", "notify.discord_webhook_url"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("SecretsInFile = %q, %v; want %q", got, err, want)
	}
}
