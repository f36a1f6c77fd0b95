package discordbot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/discordbot/discordtest"
	"github.com/clorebot/clorebot/commands"
)

// stubService answers nothing; the sink does not use the command layer.
type stubService struct{}

func (stubService) Handle(context.Context, commands.Request) commands.Reply { return commands.Reply{} }
func (stubService) Market(context.Context) ([]commands.ModelSummary, error) {
	return nil, nil
}
func (stubService) OrdersOf(context.Context, commands.Request, int) ([]commands.Order, error) {
	return nil, nil
}
func (stubService) CheckCancel(context.Context, commands.Request, int64) *commands.Reply { return nil }
func (stubService) Permits(commands.Request) bool                                        { return true }

func newSinkBot(t *testing.T) (*Bot, *discordtest.Server) {
	t.Helper()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token := "test." + hex.EncodeToString(b)
	fake := discordtest.New(t, discordtest.Options{Token: token})
	bot, err := New(Options{Token: token, AppID: fake.AppID(), APIURL: fake.URL, Service: stubService{}})
	if err != nil {
		t.Fatal(err)
	}
	return bot, fake
}

func sinkEvent(id int64, platform, channel string) commands.SinkEvent {
	data, _ := json.Marshal(map[string]any{"order": map[string]any{"id": 77, "gpu": "RTX 4090", "count": 1}})
	return commands.SinkEvent{
		Event: commands.Event{ID: id, Type: "order.running", Data: data},
		Origin: &commands.EventOrigin{Platform: platform,
			ReplyTarget: encodeTarget(target{Channel: channel, Token: "tok", Created: time.Now()})},
	}
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("posts Discord events, skips others, waits out a short 429", func(t *testing.T) {
		bot, fake := newSinkBot(t)
		fake.RateLimit("/api/v9/channels/C9/messages", 1, 0.05)
		n, err := bot.Deliver(ctx, []commands.SinkEvent{sinkEvent(1, "slack", "S1"), sinkEvent(2, "discord", "C9"),
			{Event: commands.Event{ID: 3, Type: "job.completed"}, Origin: sinkEvent(3, "discord", "C9").Origin}})
		if n != 3 || err != nil {
			t.Fatalf("Deliver = %d, %v; want 3, nil", n, err)
		}
		msgs := fake.Messages("C9")
		if len(msgs) != 1 || !strings.Contains(string(msgs[0].Body), "Order #77 is running") {
			t.Fatalf("channel C9 got %d messages: %v", len(msgs), msgs)
		}
		if len(fake.Messages("S1")) != 0 {
			t.Error("a Slack event was posted to Discord")
		}
	})
	t.Run("a long 429 stops the batch until retry_after", func(t *testing.T) {
		bot, fake := newSinkBot(t)
		fake.RateLimit("/api/v9/channels/C9/messages", 1, 30)
		n, err := bot.Deliver(ctx, []commands.SinkEvent{sinkEvent(1, "slack", "S1"), sinkEvent(2, "discord", "C9")})
		var rl errRateLimited
		if n != 1 || !errors.As(err, &rl) {
			t.Fatalf("Deliver = %d, %v; want 1 and a rate limit", n, err)
		}
		calls := len(fake.Calls("/api/v9/channels/"))
		if n, err := bot.Deliver(ctx, []commands.SinkEvent{sinkEvent(2, "discord", "C9")}); n != 0 || err == nil {
			t.Fatalf("second Deliver = %d, %v; want 0 and the rate limit", n, err)
		}
		if got := len(fake.Calls("/api/v9/channels/")); got != calls {
			t.Errorf("Discord called again (%d calls) before retry_after passed", got-calls)
		}
	})
	t.Run("a price alert mentions the watch's owner, and pings no one else", func(t *testing.T) {
		bot, fake := newSinkBot(t)
		data, _ := json.Marshal(map[string]any{"watch_id": 5, "message": "Watch #5: RTX 4090 ×1 at $0.30 per GPU per hour. " +
			"Server 9 [offers](https://evil.example) it <@1002> @everyone."})
		ev := commands.SinkEvent{Event: commands.Event{ID: 1, Type: "watch.triggered", Data: data},
			Origin: &commands.EventOrigin{Platform: "discord", User: "discord:1001",
				ReplyTarget: encodeTarget(target{Channel: "C9", Token: "tok", Created: time.Now()})}}
		if n, err := bot.Deliver(ctx, []commands.SinkEvent{ev}); n != 1 || err != nil {
			t.Fatalf("Deliver = %d, %v", n, err)
		}
		msgs := fake.Messages("C9")
		if len(msgs) != 1 {
			t.Fatalf("%d messages", len(msgs))
		}
		var m struct {
			Content         string `json:"content"`
			AllowedMentions struct {
				Parse []string `json:"parse"`
				Users []string `json:"users"`
			} `json:"allowed_mentions"`
			Embeds []struct {
				Description string `json:"description"`
			} `json:"embeds"`
		}
		if err := json.Unmarshal(msgs[0].Body, &m); err != nil {
			t.Fatal(err)
		}
		if m.Content != "<@1001>" || len(m.AllowedMentions.Users) != 1 || m.AllowedMentions.Users[0] != "1001" ||
			len(m.AllowedMentions.Parse) != 0 {
			t.Errorf("alert content %q, allowed %+v; want the owner <@1001> alone", m.Content, m.AllowedMentions)
		}
		if d := m.Embeds[0].Description; !strings.HasPrefix(d, "<@1001> ") || strings.Contains(d, "[offers](") ||
			strings.Contains(d, " <@1002>") {
			t.Errorf("alert text %q: want the owner mentioned and the rest escaped", d)
		}
	})
	t.Run("a refused token stops the batch", func(t *testing.T) {
		_, fake := newSinkBot(t)
		bot, err := New(Options{Token: "test.other", AppID: fake.AppID(), APIURL: fake.URL, Service: stubService{}})
		if err != nil {
			t.Fatal(err)
		}
		n, err := bot.Deliver(ctx, []commands.SinkEvent{sinkEvent(1, "discord", "C9")})
		if n != 0 || err == nil || strings.Contains(err.Error(), "test.other") {
			t.Fatalf("Deliver with a refused token = %d, %v; want 0 and an error without the token", n, err)
		}
	})
}

// A watch alert's chart is attached to the alert (multipart) and shown in
// its embed, next to Rent now.
func TestDeliverAlertWithChart(t *testing.T) {
	t.Parallel()
	bot, fake := newSinkBot(t)
	pngData := []byte("\x89PNG\r\n\x1a\nnot really")
	data, _ := json.Marshal(map[string]any{"watch_id": 5, "text": "Watch #5: RTX 4090 ×1 at $0.30.", "confirm": true, "job_id": "j5"})
	ev := sinkEvent(1, "discord", "C9")
	ev.Event = commands.Event{ID: 1, Type: "watch.triggered", Data: data}
	ev.Image = func(context.Context) *commands.Image {
		return &commands.Image{Name: "watch-5-24h.png", Alt: "chart", PNG: pngData}
	}
	if n, err := bot.Deliver(context.Background(), []commands.SinkEvent{ev}); n != 1 || err != nil {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	msgs := fake.Messages("C9")
	if len(msgs) != 1 || len(msgs[0].Files) != 1 {
		t.Fatalf("messages %+v", msgs)
	}
	f := msgs[0].Files[0]
	if f.Name != "watch-5-24h.png" || string(f.Data) != string(pngData) || f.ContentType != "image/png" {
		t.Errorf("file %+v", f)
	}
	body := string(msgs[0].Body)
	if !strings.Contains(body, "attachment://watch-5-24h.png") || !strings.Contains(body, "confirm:j5") {
		t.Errorf("alert %s: want the chart in the embed and Rent now", body)
	}
}
