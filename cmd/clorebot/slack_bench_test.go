package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/clorebot/clorebot/internal/fakeslack"
)

// startMinimalSlackBot runs the smallest slack-go Socket Mode bot against
// its own fake Slack: it acknowledges every slash command at once with a
// fixed ephemeral answer. It is the yardstick of BenchmarkSlackAckLatency.
func startMinimalSlackBot(b *testing.B) *fakeslack.Server {
	b.Helper()
	fake := fakeslack.New(fakeslack.Options{AppToken: testAppToken, BotToken: testBotToken})
	b.Cleanup(fake.Close)
	api := slack.New(testBotToken, slack.OptionAppLevelToken(testAppToken), slack.OptionAPIURL(fake.APIURL()))
	sm := socketmode.New(api)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go func() { _ = sm.RunContext(ctx) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-sm.Events:
				if evt.Request != nil && evt.Type == socketmode.EventTypeSlashCommand {
					_ = sm.Ack(*evt.Request, map[string]any{"response_type": "ephemeral", "text": "ok"})
				}
			}
		}
	}()
	if !fake.WaitConnected(1, slackWait) {
		b.Fatal("minimal bot never connected")
	}
	return fake
}

// burst sends n /clore commands as fast as the socket takes them and
// returns each one's time from send to acknowledgement, sorted.
func burst(b *testing.B, fake *fakeslack.Server, prefix, user, text string, n int) []time.Duration {
	b.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		if err := fake.Send(fakeslack.Envelope(ids[i], "slash_commands", fake.Slash(user, "C1", text, "trig-"+ids[i]), 0)); err != nil {
			b.Fatal(err)
		}
	}
	out := make([]time.Duration, 0, n)
	for _, id := range ids {
		if _, ok := fake.WaitAck(id, slackWait); !ok {
			b.Fatalf("%s not acknowledged", id)
		}
		d, _ := fake.AckLatency(id)
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// BenchmarkSlackAckLatency measures the acknowledgement latency of a burst
// of 500 `/clore help` and one of 200 `/clore rent` through a fake Slack,
// for clorebot (serve --sandbox) and, in the same run, for a minimal
// slack-go bot that acknowledges at once; it reports p50/p99 of both and
// the p99 ratio. Run it with -benchtime=1x.
func BenchmarkSlackAckLatency(b *testing.B) {
	s := startSlackServe(b, "", nil)
	if !s.fake.WaitConnected(1, slackWait) {
		b.Fatal("clorebot never connected")
	}
	minimal := startMinimalSlackBot(b)
	report := func(name string, bot, base []time.Duration) {
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(percentile(bot, 0.5)), name+"_p50_ms")
		b.ReportMetric(ms(percentile(bot, 0.99)), name+"_p99_ms")
		b.ReportMetric(ms(percentile(base, 0.5)), name+"_minimal_p50_ms")
		b.ReportMetric(ms(percentile(base, 0.99)), name+"_minimal_p99_ms")
		b.ReportMetric(ms(percentile(bot, 0.99))/ms(percentile(base, 0.99)), name+"_p99_ratio")
	}
	for i := 0; b.Loop(); i++ {
		helpBot := burst(b, s.fake, fmt.Sprintf("help%d", i), "UALICE", "help", 500)
		helpBase := burst(b, minimal, fmt.Sprintf("help%d", i), "UALICE", "help", 500)
		rentBot := burst(b, s.fake, fmt.Sprintf("rent%d", i), "UALICE", "rent 3090 --hours 1", 200)
		rentBase := burst(b, minimal, fmt.Sprintf("rent%d", i), "UALICE", "rent 3090 --hours 1", 200)
		report("help", helpBot, helpBase)
		report("rent", rentBot, rentBase)
	}
}
