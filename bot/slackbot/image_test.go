package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/slackbot/slacktest"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/chart"
)

func testChart(t *testing.T) commands.Image {
	t.Helper()
	png, err := chart.RenderLine(chart.Line{Title: "RTX 4090", Unit: "USD/GPU/h", Series: []chart.Series{{Name: "RTX 4090",
		Points: []chart.Point{{At: time.Unix(1.7e9, 0), Value: 0.3}, {At: time.Unix(1.7e9+3600, 0), Value: 0.4}}}}}, chart.Small)
	if err != nil {
		t.Fatal(err)
	}
	return commands.Image{Name: "rtx-4090-24h.png", Alt: "Cheapest RTX 4090 offer", PNG: png}
}

// A chart comes after the acknowledgement through slack-go's file upload
// (upload URL, multipart POST, completion): an answer for the requester
// alone has it in their direct conversation with the bot (Slack has no
// ephemeral files) and says so; a public answer's goes to the channel.
func TestReplyChartUploadedAfterTheAck(t *testing.T) {
	img := testChart(t)
	svc := &stubService{fn: func(req commands.Request) commands.Reply {
		vis := commands.Ephemeral
		if strings.Contains(req.Text, "public") {
			vis = commands.Public
		}
		return commands.Reply{Status: commands.StatusOK, Title: "RTX 4090: cheapest offer, last 24 hours", Text: "low $0.30",
			Visibility: vis, Done: true, Image: &img}
	}}
	_, fake := startBot(t, svc, nil)
	if !fake.WaitConnected(1, wait) {
		t.Fatal("never connected")
	}
	if err := fake.Send(slacktest.Envelope("env1", "slash_commands", fake.Slash("U1", "C1", "market 4090 --history 24h", "trig-1"), 0)); err != nil {
		t.Fatal(err)
	}
	a, ok := fake.WaitAck("env1", wait)
	if !ok || !strings.Contains(string(a.Payload), "direct messages") {
		t.Fatalf("ack %s, %v: want the text and where the chart goes", a.Payload, ok)
	}
	files, ok := fake.WaitFiles(wait, func(fs []slacktest.File) bool { return len(fs) == 1 })
	if !ok {
		t.Fatalf("files %+v", files)
	}
	f := files[0]
	if f.Channel != "DU1" || f.Name != img.Name || f.AltText != img.Alt || !bytes.Equal(f.Data, img.PNG) {
		t.Errorf("file %s in %q alt %q, %d bytes; want the chart in U1's direct conversation", f.Name, f.Channel, f.AltText, len(f.Data))
	}
	if err := fake.Send(slacktest.Envelope("env2", "slash_commands", fake.Slash("U1", "C1", "public chart", "trig-2"), 0)); err != nil {
		t.Fatal(err)
	}
	files, ok = fake.WaitFiles(wait, func(fs []slacktest.File) bool { return len(fs) == 2 })
	if !ok || files[1].Channel != "C1" || files[1].InitialComment == "" {
		t.Fatalf("files %+v: want the public answer's chart in C1 with its title", files)
	}
	for _, m := range []string{"files.getUploadURLExternal", "files.completeUploadExternal"} {
		if n := fake.Calls(m); n != 2 {
			t.Errorf("%s called %d times, want 2", m, n)
		}
	}
}

// A price alert's chart follows the alert in its conversation; an alert
// whose chart cannot be drawn goes out alone.
func TestPriceAlertCarriesItsChart(t *testing.T) {
	fake := slacktest.New(slacktest.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	b := New(Options{BotToken: botToken, APIURL: fake.APIURL(), Service: &stubService{}})
	img := testChart(t)
	data, _ := json.Marshal(map[string]any{"watch_id": 5, "text": "Watch #5: RTX 4090 ×1 at $0.30 per GPU per hour.",
		"confirm": true, "job_id": "j5"})
	origin := &commands.EventOrigin{Platform: "slack", User: "slack:UOWNER", ReplyTarget: dest{Channel: "C7", User: "UOWNER"}.encode()}
	evs := []commands.SinkEvent{
		{Event: commands.Event{ID: 1, Type: "watch.triggered", Data: data}, Origin: origin,
			Image: func(context.Context) *commands.Image { return &img }},
		{Event: commands.Event{ID: 2, Type: "watch.triggered", Data: data}, Origin: origin,
			Image: func(context.Context) *commands.Image { return nil }},
	}
	if n, err := b.Deliver(context.Background(), evs); n != 2 || err != nil {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	if msgs := fake.Messages(); len(msgs) != 2 || !strings.Contains(string(msgs[0].Blocks), "confirm:j5") {
		t.Fatalf("messages %+v: want both alerts with Rent now", msgs)
	}
	files := fake.Files()
	if len(files) != 1 || files[0].Channel != "C7" || !bytes.Equal(files[0].Data, img.PNG) {
		t.Fatalf("files %+v: want the one chart in C7", files)
	}
}

// A post through Notify with a chart (the spend digest, to the channel of
// report.slack_channel) is followed by its chart in that channel, once.
func TestNotifiedPostCarriesItsChart(t *testing.T) {
	fake := slacktest.New(slacktest.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	b := New(Options{BotToken: botToken, APIURL: fake.APIURL(), Service: &stubService{}})
	img := testChart(t)
	target := commands.Target{Platform: commands.PlatformSlack, ReplyTarget: ChannelTarget("C9")}
	r := commands.Reply{Status: commands.StatusOK, Title: "Spend this week", Text: "Total $12.34", Visibility: commands.Public,
		Done: true, Image: &img}
	if _, err := b.Notify(context.Background(), target, r); err != nil {
		t.Fatal(err)
	}
	if msgs := fake.Messages(); len(msgs) != 1 || msgs[0].Channel != "C9" {
		t.Fatalf("messages %+v: want the digest in C9", msgs)
	}
	files := fake.Files()
	if len(files) != 1 || files[0].Channel != "C9" || !bytes.Equal(files[0].Data, img.PNG) {
		t.Fatalf("files %+v: want the digest's chart in C9", files)
	}
}
