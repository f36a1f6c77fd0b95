package chat_test

import (
	"context"
	"testing"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// recorder is a door's notifier that remembers what it was handed.
type recorder struct{ got []commands.Target }

func (r *recorder) Notify(_ context.Context, t commands.Target, _ commands.Reply) (string, error) {
	r.got = append(r.got, t)
	return t.Platform + "-ref", nil
}

// A job update goes to the door that owns its target's platform, and to no
// other; a platform without a door (cli) is dropped.
func TestNotifiersRouteToTheOwningDoor(t *testing.T) {
	var ns chat.Notifiers
	slack, discord := &recorder{}, &recorder{}
	ns.Add(commands.PlatformSlack, slack)
	ns.Add(commands.PlatformDiscord, discord)
	ctx := context.Background()
	for _, tc := range []struct {
		platform, ref string
	}{
		{commands.PlatformSlack, "slack-ref"},
		{commands.PlatformDiscord, "discord-ref"},
		{"cli", ""},
	} {
		ref, err := ns.Notify(ctx, commands.Target{Platform: tc.platform, User: tc.platform + ":u"}, commands.Reply{JobID: "j"})
		if err != nil || ref != tc.ref {
			t.Errorf("%s: ref %q, err %v; want %q", tc.platform, ref, err, tc.ref)
		}
	}
	if len(slack.got) != 1 || slack.got[0].Platform != commands.PlatformSlack {
		t.Errorf("slack's door was handed %+v, want its own target only", slack.got)
	}
	if len(discord.got) != 1 || discord.got[0].Platform != commands.PlatformDiscord {
		t.Errorf("discord's door was handed %+v, want its own target only", discord.got)
	}
}
