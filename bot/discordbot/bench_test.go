package discordbot_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
)

// burst is the number of interactions sent at once.
const burst = 300

// BenchmarkInteractionBurst sends bursts of 300 interactions over the fake
// gateway, to clorebot's Discord front door (over the real command layer,
// SQLite and the sandbox) and, in the same run, to a minimal discordgo bot
// that answers at once, and reports the interaction → callback latency of
// both and the ratio of their p99s:
//
//	go test -run '^$' -bench InteractionBurst -benchtime 3x ./bot/discordbot/
func BenchmarkInteractionBurst(b *testing.B) {
	for _, kind := range []string{"help", "rent"} {
		b.Run(kind, func(b *testing.B) {
			h := newHarness(b, harnessOpts{})
			model := h.cheapModel()
			minimal := newMinimalBot(b, kind)
			var ours, theirs []time.Duration
			for n := 0; n < b.N; n++ {
				ours = append(ours, h.burst(b, n, func(id, tok string, who fd.Who) fd.Interaction {
					if kind == "rent" {
						return h.fake.Slash(id, tok, who, "clore", fd.Sub("rent", fd.Str("gpu", model)))
					}
					return h.fake.Slash(id, tok, who, "clore", fd.Sub("help"))
				})...)
				theirs = append(theirs, minimal.burst(b, n)...)
			}
			p50o, p99o := percentiles(ours)
			p50t, p99t := percentiles(theirs)
			b.ReportMetric(ms(p50o), "clorebot-p50-ms")
			b.ReportMetric(ms(p99o), "clorebot-p99-ms")
			b.ReportMetric(ms(p50t), "minimal-p50-ms")
			b.ReportMetric(ms(p99t), "minimal-p99-ms")
			b.ReportMetric(float64(p99o)/float64(max(p99t, time.Microsecond)), "p99-ratio")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)*99/100, len(s)-1)]
}

// burst sends 300 interactions from distinct users as fast as the gateway
// takes them and returns each one's interaction → callback latency.
func (h *harness) burst(b *testing.B, round int, build func(id, tok string, who fd.Who) fd.Interaction) []time.Duration {
	return sendBurst(b, h.fake, "c", round, build)
}

func sendBurst(b *testing.B, fake *fd.Server, prefix string, round int, build func(id, tok string, who fd.Who) fd.Interaction) []time.Duration {
	b.Helper()
	ids := make([]string, burst)
	for i := range burst {
		id := fmt.Sprintf("%s%d-%d", prefix, round, i)
		ids[i] = id
		who := fd.Who{UserID: fmt.Sprint(5000 + i), Roles: []string{"777"}}
		if err := fake.Interaction(build(id, "tok-"+id, who)); err != nil {
			b.Fatal(err)
		}
	}
	fake.WaitFor(b, 60*time.Second, "every callback", func() bool {
		for _, id := range ids {
			if _, ok := fake.Callback(id); !ok {
				return false
			}
		}
		return true
	})
	out := make([]time.Duration, 0, burst)
	for _, id := range ids {
		c, _ := fake.Callback(id)
		at, _ := fake.Dispatched(id)
		out = append(out, c.At.Sub(at))
	}
	return out
}

// minimalBot is the baseline: a discordgo session with one handler that
// answers every interaction at once (type 4 for help, type 5 for rent).
type minimalBot struct {
	fake *fd.Server
	kind string
}

func newMinimalBot(b *testing.B, kind string) *minimalBot {
	b.Helper()
	token := botToken()
	fake := fd.New(b, fd.Options{Token: token})
	s, err := discordgo.New("Bot " + token)
	if err != nil {
		b.Fatal(err)
	}
	base, _ := url.Parse(fake.URL)
	s.Client = &http.Client{Transport: hostRewrite{base}}
	s.StateEnabled = false
	s.Identify.Intents = discordgo.IntentsNone
	s.AddHandler(func(s *discordgo.Session, ic *discordgo.InteractionCreate) {
		resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{Content: "ok", Flags: discordgo.MessageFlagsEphemeral}}
		if kind == "rent" {
			resp = &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource}
		}
		_ = s.InteractionRespond(ic.Interaction, resp)
	})
	if err := s.Open(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	fake.WaitFor(b, 10*time.Second, "READY", func() bool { return fake.Connected(1) })
	return &minimalBot{fake: fake, kind: kind}
}

func (m *minimalBot) burst(b *testing.B, round int) []time.Duration {
	return sendBurst(b, m.fake, "m", round, func(id, tok string, who fd.Who) fd.Interaction {
		return m.fake.Slash(id, tok, who, "clore", fd.Sub(m.kind))
	})
}

// hostRewrite sends https://discord.com/ to the fake.
type hostRewrite struct{ base *url.URL }

func (t hostRewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = t.base.Scheme, t.base.Host
	r.URL.Path = strings.TrimSuffix(t.base.Path, "/") + r.URL.Path
	r.Host = ""
	return http.DefaultTransport.RoundTrip(r)
}
