package slackbot

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/bot/slackbot/slacktest"
	"github.com/clorebot/clorebot/commands"
)

// A price alert goes to the watch's conversation and mentions its owner;
// the alert's text (a host's words included) is escaped.
func TestPriceAlertMentionsTheOwner(t *testing.T) {
	fake := slacktest.New(slacktest.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	b := New(Options{BotToken: botToken, APIURL: fake.APIURL(), Service: &stubService{}})
	data, _ := json.Marshal(map[string]any{"watch_id": 5,
		"message": "Watch #5: RTX 4090 ×1 at $0.30 per GPU per hour. Server 9 <!channel> <https://evil.example|offers> it."})
	ev := commands.SinkEvent{Event: commands.Event{ID: 1, Type: "watch.triggered", Data: data},
		Origin: &commands.EventOrigin{Platform: "slack", User: "slack:UOWNER", ReplyTarget: dest{Channel: "C7", User: "UOWNER"}.encode()}}
	if n, err := b.Deliver(context.Background(), []commands.SinkEvent{ev}); n != 1 || err != nil {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	msgs := fake.Messages()
	if len(msgs) != 1 || msgs[0].Channel != "C7" {
		t.Fatalf("messages %+v", msgs)
	}
	if txt := msgs[0].Text; !strings.HasPrefix(txt, "Price alert: <@UOWNER> ") || strings.Contains(txt, "<!channel>") ||
		strings.Contains(txt, "<https://") {
		t.Errorf("alert %q: want the owner mentioned, the rest escaped", txt)
	}
}
