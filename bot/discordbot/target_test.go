package discordbot

import (
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// A job's reply target holds the interaction token as its expiring part:
// once Discord no longer takes it (15 minutes) the store drops it, and the
// target still names the channel and the interaction.
func TestTargetTokenExpires(t *testing.T) {
	t.Parallel()
	created := time.UnixMilli(1_700_000_000_123)
	tg := target{Channel: "555", Token: "aW50ZXJhY3Rpb24tdG9rZW4", Created: created, ID: "9001"}
	s := encodeTarget(tg)
	got, ok := decodeTarget(s)
	if !ok || got != tg {
		t.Fatalf("decode(encode) = %+v, %v; want %+v", got, ok, tg)
	}
	if kept := commands.FreshTarget(s, created.Add(14*time.Minute)); kept != s {
		t.Fatalf("a live token was dropped: %q", kept)
	}
	wiped := commands.FreshTarget(s, created.Add(15*time.Minute))
	if strings.Contains(wiped, tg.Token) {
		t.Fatalf("an expired token is kept: %q", wiped)
	}
	got, ok = decodeTarget(wiped)
	if !ok || got.Token != "" || got.Channel != "555" || got.ID != "9001" || got.key() != tg.key() {
		t.Fatalf("wiped target = %+v, %v", got, ok)
	}
	// A target stored before v2, its token wiped by 0022.
	old, ok := decodeTarget("discord:v1:555:1700000000123:")
	if !ok || old.Channel != "555" || old.Token != "" {
		t.Fatalf("v1 target = %+v, %v", old, ok)
	}
}
