package discordbot_test

import (
	"context"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/discordbot"
	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
)

// fastBackoff keeps reconnect tests quick; discordgo's Close still costs 1 s.
func fastBackoff(o *discordbot.Options) {
	o.Backoff = 20 * time.Millisecond
	o.WatchdogTick = 20 * time.Millisecond
}

// answered checks that an interaction sent now is answered: nothing is lost
// after a reconnect.
func (h *harness) answered() {
	h.t.Helper()
	h.fake.WaitFor(h.t, 10*time.Second, "a connected session", func() bool { return h.bot.Ready(context.Background()) == nil })
	id, tok := h.next()
	if cb := h.send(h.fake.Slash(id, tok, alice, "clore", fd.Sub("help"))); cb.Type != 4 {
		h.t.Fatalf("help after reconnect: type %d, want 4", cb.Type)
	}
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		interval time.Duration
		disrupt  func(h *harness)
		check    func(t *testing.T, before, after fd.Stats)
	}{
		{"op 7 RECONNECT resumes", 0, func(h *harness) {
			if err := h.fake.SendOp(7, nil); err != nil {
				h.t.Fatal(err)
			}
			h.fake.WaitFor(h.t, 10*time.Second, "RESUME", func() bool { return len(h.fake.Stats().Resumes) == 1 })
		}, func(t *testing.T, before, after fd.Stats) {
			r := after.Resumes[0]
			if r.SessionID != "sess-1" || r.Seq != before.Seq {
				t.Errorf("RESUME %+v, want session sess-1 at seq %d", r, before.Seq)
			}
		}},
		{"op 9 INVALID_SESSION identifies again", 0, func(h *harness) {
			if err := h.fake.SendOp(9, false); err != nil {
				h.t.Fatal(err)
			}
			h.fake.WaitFor(h.t, 10*time.Second, "a second IDENTIFY", func() bool { return h.fake.Stats().Identifies == 2 })
		}, func(t *testing.T, before, after fd.Stats) {
			if after.Connections != before.Connections {
				t.Errorf("op 9 opened %d connections, want the same socket", after.Connections-before.Connections)
			}
		}},
		{"missed heartbeat ACKs", 100 * time.Millisecond, func(h *harness) {
			h.fake.SetHeartbeatAcks(false)
			h.fake.WaitFor(h.t, 10*time.Second, "a new connection", func() bool { return h.fake.Stats().Connections == 2 })
			h.fake.SetHeartbeatAcks(true)
			h.fake.WaitFor(h.t, 10*time.Second, "RESUME", func() bool { return len(h.fake.Stats().Resumes) >= 1 })
		}, nil},
		{"dropped socket resumes", 0, func(h *harness) {
			if err := h.fake.Drop(); err != nil {
				h.t.Fatal(err)
			}
			h.fake.WaitFor(h.t, 10*time.Second, "RESUME", func() bool { return len(h.fake.Stats().Resumes) == 1 })
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOpts{fake: fd.Options{HeartbeatInterval: tt.interval}, bot: fastBackoff})
			h.answered()
			before := h.fake.Stats()
			tt.disrupt(h)
			h.answered()
			if tt.check != nil {
				tt.check(t, before, h.fake.Stats())
			}
		})
	}
}

// The watchdog abandons a session that sees no READY (Open waiting forever,
// or deadlocked by op 7 as the first frame: bwmarrin/discordgo#513) or no
// heartbeat ACK in time, and starts a new one; /readyz is not ready until
// READY.
func TestWatchdog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		handshake fd.Handshake
		stall     bool
	}{
		{"no READY after IDENTIFY", fd.Silent, false},
		{"op 7 first deadlocks Open", fd.ReconnectFirst, false},
		{"no heartbeat ACK", fd.Ready, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := fd.Options{}
			h := newHarness(t, harnessOpts{noWait: true, fake: fake, bot: func(o *discordbot.Options) {
				fastBackoff(o)
				o.ReadyTimeout = 300 * time.Millisecond
				o.StallTimeout = 400 * time.Millisecond
			}})
			if tt.stall {
				h.fake.SetHeartbeatAcks(false)
				h.fake.WaitFor(t, 10*time.Second, "READY", func() bool { return h.fake.Connected(1) })
			} else {
				h.fake.SetHandshake(tt.handshake)
				h.fake.WaitFor(t, 10*time.Second, "IDENTIFY", func() bool { return h.fake.Stats().Identifies == 1 })
				if err := h.bot.Ready(context.Background()); err == nil {
					t.Error("ready before READY")
				}
			}
			// The first session is stuck; the next one is answered normally.
			h.fake.SetHandshake(fd.Ready)
			h.fake.WaitFor(t, 10*time.Second, "a second IDENTIFY", func() bool { return h.fake.Stats().Identifies >= 2 })
			h.fake.SetHeartbeatAcks(true)
			h.answered()
			if n := h.fake.Stats().Connections; n < 2 {
				t.Errorf("%d connections, want a new one", n)
			}
		})
	}
}

// With ConnectAfter, the gateway session starts only once it is closed;
// /clore is registered meanwhile.
func TestGatewayWaitsForConnectAfter(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	h := newHarness(t, harnessOpts{noWait: true, bot: func(o *discordbot.Options) { o.ConnectAfter = gate }})
	h.fake.WaitFor(t, 10*time.Second, "registration", func() bool {
		return len(h.fake.Calls("/api/v9/applications/"+h.fake.AppID()+"/guilds/G1/commands")) > 0
	})
	if h.fake.Await(300*time.Millisecond, func() bool { return h.fake.Stats().Connections > 0 }) {
		t.Fatal("gateway connected before ConnectAfter was closed")
	}
	if err := h.bot.Ready(context.Background()); err == nil {
		t.Error("ready before the gateway connected")
	}
	close(gate)
	h.fake.WaitFor(t, 10*time.Second, "READY", func() bool { return h.fake.Connected(1) })
	h.answered()
}
