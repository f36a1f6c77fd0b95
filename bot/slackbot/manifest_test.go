package slackbot

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// The app manifest the README tells operators to create the app from.
func TestManifest(t *testing.T) {
	raw, err := os.ReadFile("manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			SlashCommands []struct {
				Command   string `json:"command"`
				UsageHint string `json:"usage_hint"`
			} `json:"slash_commands"`
		} `json:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `json:"bot"`
			} `json:"scopes"`
		} `json:"oauth_config"`
		Settings struct {
			Interactivity struct {
				IsEnabled bool `json:"is_enabled"`
			} `json:"interactivity"`
			SocketMode bool `json:"socket_mode_enabled"`
		} `json:"settings"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/clore" || m.Features.SlashCommands[0].UsageHint == "" {
		t.Errorf("slash commands = %+v; want /clore with a usage hint", m.Features.SlashCommands)
	}
	for _, scope := range []string{"commands", "chat:write"} {
		if !slices.Contains(m.OAuth.Scopes.Bot, scope) {
			t.Errorf("bot scopes %v lack %s", m.OAuth.Scopes.Bot, scope)
		}
	}
	if !m.Settings.Interactivity.IsEnabled || !m.Settings.SocketMode {
		t.Errorf("settings = %+v; want interactivity and Socket Mode on", m.Settings)
	}
}
