package discordbot_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/discordbot"
	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
	"github.com/clorebot/clorebot/commands"
)

// countingService counts the requests handed to the command layer.
type countingService struct {
	discordbot.Service
	handled atomic.Int32
}

func (c *countingService) Handle(ctx context.Context, req commands.Request) commands.Reply {
	c.handled.Add(1)
	return c.Service.Handle(ctx, req)
}

// logRecords keeps the bot's log records (message and interaction id) for
// tests to wait on.
type logRecords struct {
	mu      sync.Mutex
	recs    []logRecord
	changed chan struct{}
}

type logRecord struct {
	level               slog.Level
	msg, id, all, token string
}

func newLogRecords() *logRecords { return &logRecords{changed: make(chan struct{})} }

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message}
	var all strings.Builder
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "interaction_id" {
			rec.id = a.Value.String()
		}
		all.WriteString(a.Key + "=" + a.Value.String() + " ")
		return true
	})
	rec.all = all.String()
	l.mu.Lock()
	l.recs = append(l.recs, rec)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// wait waits for a record whose message contains msg about interaction id.
func (l *logRecords) wait(t *testing.T, timeout time.Duration, msg, id string) logRecord {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		ch := l.changed
		for _, r := range l.recs {
			if strings.Contains(r.msg, msg) && r.id == id {
				l.mu.Unlock()
				return r
			}
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no log record %q for interaction %s within %v", msg, id, timeout)
		}
	}
}

// refusalHarness is a harness whose command layer counts requests and whose
// log is kept.
func refusalHarness(t *testing.T) (*harness, *countingService, *logRecords) {
	cs := &countingService{}
	logs := newLogRecords()
	h := newHarness(t, harnessOpts{bot: func(o *discordbot.Options) {
		cs.Service = o.Service
		o.Service = cs
		o.Logger = slog.New(logs)
	}})
	return h, cs, logs
}

// snowflake is an interaction id Discord would have made at t.
func snowflake(t time.Time, n int) string {
	return strconv.FormatUint(uint64(t.UnixMilli()-1420070400000)<<22|uint64(n), 10)
}

// notRun is what a refused job command leaves: the refusal logged at warn
// with its interaction id (and no token), nothing handed to the command
// layer once the bot's work is over, no order at the marketplace, and a DM
// to the invoker saying so unless someone else answered the interaction.
func (h *harness) notRun(t *testing.T, cs *countingService, logs *logRecords, id, tok string, wantDM bool) {
	t.Helper()
	rec := logs.wait(t, 10*time.Second, "job command not run", id)
	if rec.level != slog.LevelWarn || strings.Contains(rec.all, tok) || strings.Contains(rec.all, h.token) {
		t.Errorf("refusal logged at %v with %q: want warn, no token", rec.level, rec.all)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.bot.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	if n := cs.handled.Load(); n != 0 {
		t.Errorf("the command layer got %d request(s) of a job command whose interaction was not acknowledged, want none", n)
	}
	orders, err := h.client.MyOrders(context.Background(), true)
	if err != nil || len(orders) != 0 {
		t.Errorf("marketplace orders: %d (%v), want none", len(orders), err)
	}
	if msgs := h.fake.Messages("C1"); len(msgs) != 0 {
		t.Errorf("%d channel message(s), want none", len(msgs))
	}
	dms := h.fake.Messages("dm-" + alice.UserID)
	switch {
	case !wantDM && len(dms) != 0:
		t.Errorf("%d DM(s) though another answer stands, want none", len(dms))
	case wantDM && (len(dms) != 1 || !strings.Contains(text(dms[0].Body), "/clore rent was not run") ||
		!strings.Contains(text(dms[0].Body), "Nothing was done")):
		t.Errorf("DMs %v, want one saying the rent was not run", dms)
	}
}

// Review R7: a rent (or any job command) whose deferral Discord definitely
// refuses — 10062 Unknown interaction (older than 3 s, e.g. replayed after
// a gateway RESUME) or 40060 already acknowledged — is not handed to the
// command layer: the user saw "The application did not respond" and will
// run it again; two runs would rent twice. An interaction whose snowflake
// says it is older than Discord accepts is not even answered. The invoker
// is told by DM that nothing was done, unless another answer stands.
func TestJobCommandWhoseAckIsRefusedIsNotRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		send      func(h *harness, i fd.Interaction) error
		id        func(h *harness) string
		callbacks int  // callback attempts the bot makes
		dm        bool // the invoker is told by DM
	}{
		{"10062 unknown interaction", func(h *harness, i fd.Interaction) error {
			return h.fake.Dispatch("INTERACTION_CREATE", i) // not expected: the fake answers 404 10062
		}, nil, 1, true},
		{"40060 already acknowledged", func(h *harness, i fd.Interaction) error {
			h.fake.AcknowledgedElsewhere(i)
			return h.fake.Dispatch("INTERACTION_CREATE", i)
		}, nil, 1, false},
		{"snowflake older than 3 s", func(h *harness, i fd.Interaction) error {
			return h.fake.Interaction(i) // Discord would take the callback: the bot must not send it
		}, func(h *harness) string { return snowflake(h.clock.Now().Add(-10*time.Second), 1) }, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, cs, logs := refusalHarness(t)
			model := h.cheapModel()
			id, tok := h.next()
			if tt.id != nil {
				id = tt.id(h)
			}
			i := h.fake.Slash(id, tok, alice, "clore", fd.Sub("rent", fd.Str("gpu", model)))
			if err := tt.send(h, i); err != nil {
				t.Fatal(err)
			}
			h.notRun(t, cs, logs, id, tok, tt.dm)
			if n := len(h.fake.Calls("/api/v9/interactions/" + id + "/")); n != tt.callbacks {
				t.Errorf("%d callback(s), want %d", n, tt.callbacks)
			}
		})
	}
}

// Review R7, the other side: instant commands are answered whatever their
// age (Discord decides), and a job command's deferral that failed with an
// ambiguous answer (a 5xx) runs only if Discord holds it — the user then
// sees it acknowledged, and it must not be lost.
func TestJobCommandAckAmbiguousFailure(t *testing.T) {
	t.Parallel()
	t.Run("instant command with an old snowflake is answered", func(t *testing.T) {
		t.Parallel()
		h, _, _ := refusalHarness(t)
		id := snowflake(h.clock.Now().Add(-10*time.Second), 2)
		cb := h.send(h.fake.Slash(id, "itok-old-help", alice, "clore", fd.Sub("help")))
		if cb.Type != 4 {
			t.Errorf("help answered with type %d, want 4", cb.Type)
		}
	})
	t.Run("5xx after the deferral landed: the rent runs", func(t *testing.T) {
		t.Parallel()
		h, cs, _ := refusalHarness(t)
		model := h.cheapModel()
		id, tok := h.next()
		h.fake.FailNextCallback(id, 500, true)
		if err := h.fake.Interaction(h.fake.Slash(id, tok, alice, "clore", fd.Sub("rent", fd.Str("gpu", model)))); err != nil {
			t.Fatal(err)
		}
		h.fake.WaitFor(t, 20*time.Second, "the order", func() bool {
			m, ok := h.fake.Original(tok)
			return ok && strings.Contains(text(m.Body), "is running")
		})
		if n := cs.handled.Load(); n != 1 {
			t.Errorf("handled %d time(s), want 1", n)
		}
		if n := len(h.fake.Calls("/api/v9/interactions/" + id + "/")); n != 1 {
			t.Errorf("%d callback(s), want 1 (a deferral is not retried)", n)
		}
	})
	t.Run("5xx and no deferral at Discord: not run", func(t *testing.T) {
		t.Parallel()
		h, cs, logs := refusalHarness(t)
		model := h.cheapModel()
		id, tok := h.next()
		h.fake.FailNextCallback(id, 502, false)
		if err := h.fake.Interaction(h.fake.Slash(id, tok, alice, "clore", fd.Sub("rent", fd.Str("gpu", model)))); err != nil {
			t.Fatal(err)
		}
		h.notRun(t, cs, logs, id, tok, true)
		if n := len(h.fake.Calls("/api/v9/interactions/" + id + "/")); n != 1 {
			t.Errorf("%d callback(s), want 1 (a deferral is not retried after a 502)", n)
		}
	})
}
