package discordbot_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/discordbot"
	"github.com/clorebot/clorebot/bot/discordbot/discordtest"
	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// Who's who in the tests: alice rents, bob only views, carol rents through
// her Discord role.
var (
	alice = discordtest.Who{UserID: "1001", Name: "alice"}
	bob   = discordtest.Who{UserID: "1002", Name: "bob"}
	carol = discordtest.Who{UserID: "1003", Name: "carol", Roles: []string{"777"}}
)

// clock is the bot's clock: the wall clock plus an offset tests can move.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// harness is clorebot's Discord front door over a real command layer, real
// SQLite and the sandbox marketplace, driven through the fake Discord by the
// real discordgo session.
type harness struct {
	t      testing.TB
	fake   *discordtest.Server
	bot    *discordbot.Bot
	svc    *commands.Service
	store  *storage.Store
	client *clore.Client
	clock  *clock
	token  string
	cancel context.CancelFunc
	done   chan struct{}
	n      int
}

// botToken builds a token at run time: no token-like literal in the tree.
func botToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "test." + hex.EncodeToString(b)
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("DISCORDBOT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type harnessOpts struct {
	fake   discordtest.Options
	bot    func(*discordbot.Options)
	noWait bool // do not wait for READY
}

func newHarness(t testing.TB, ho harnessOpts) *harness {
	t.Helper()
	dir := t.TempDir()
	copyTemplate(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, clock: &clock{}, token: botToken(), cancel: cancel, done: make(chan struct{})}
	st, err := storage.OpenAndMigrate(ctx, storagetest.At(t, filepath.Join(dir, "clorebot.db")))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Options{StatePath: filepath.Join(dir, "sandbox.db"), APIKey: "k",
		Servers: 400, ProvisionDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	h.client = clore.New(clore.Options{BaseURL: ts.URL + "/v1", APIKey: "k", Interval: time.Millisecond,
		CreateInterval: time.Millisecond, MaxRetries: 2, Backoff: time.Millisecond, Slots: st})
	h.store = st
	ho.fake.Token = h.token
	h.fake = discordtest.New(t, ho.fake)
	h.svc = commands.New(commands.Options{Store: st, Clore: h.client,
		Notifier: commands.NotifierFunc(func(ctx context.Context, tg commands.Target, r commands.Reply) (string, error) {
			return h.bot.Notify(ctx, tg, r)
		}),
		Policy: commands.Policy{
			Renters: []string{"discord:" + alice.UserID, "discord-role:777"}, DefaultRole: commands.RoleViewer,
			MaxPricePerHour: 50, MaxOrdersPerHour: 100, MaxActiveOrders: 10, MaxTeamActiveOrders: 20,
			MaxHourlySpend: 500, DefaultHours: 4, MaxHours: 168, MinReliability: 0,
		},
		PollInterval: 50 * time.Millisecond, ReconcileWindow: 400 * time.Millisecond, ProvisionTimeout: 20 * time.Second,
		RoleSources: map[string]commands.RoleSource{commands.PlatformDiscord: botRoles{h}},
	})
	if err := h.svc.RefreshMarket(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.RefreshOrders(ctx); err != nil {
		t.Fatal(err)
	}
	o := discordbot.Options{Token: h.token, AppID: h.fake.AppID(), APIURL: h.fake.URL, GuildIDs: []string{"G1"},
		Service: h.svc, Logger: testLogger(t), Now: h.clock.Now}
	if ho.bot != nil {
		ho.bot(&o)
	}
	if h.bot, err = discordbot.New(o); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.svc.Run(ctx) })
	wg.Go(func() { _ = h.bot.Run(ctx) })
	outbox := commands.NewOutbox(commands.OutboxOptions{Store: st, Sinks: []commands.Sink{h.bot}})
	wg.Go(func() { _ = outbox.Run(ctx, 20*time.Millisecond) })
	go func() { wg.Wait(); close(h.done) }()
	t.Cleanup(func() {
		cancel()
		<-h.done
		wctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		_ = h.bot.Wait(wctx)
		h.fake.Close()
		ts.Close()
		sb.Close()
		st.Close()
	})
	if !ho.noWait {
		h.fake.WaitFor(t, 10*time.Second, "READY", func() bool { return h.fake.Connected(1) })
	}
	return h
}

// copyTemplate puts in dir, as clorebot.db, a copy of a database migrated
// once for the package (on SQLite): OpenAndMigrate then finds nothing left
// to apply. Migrating costs most of a second of CPU under -race, and the
// migrations are storage's to test.
func copyTemplate(t testing.TB, dir string) {
	t.Helper()
	if storagetest.Postgres() {
		return
	}
	storagetest.CopyTemplate(t, filepath.Join(dir, "clorebot.db"), func(path string) error {
		st, err := storage.OpenAndMigrate(context.Background(), path)
		if err != nil {
			return err
		}
		return st.Close()
	})
}

// next returns a fresh interaction id and token.
func (h *harness) next() (id, token string) {
	h.n++
	return "int-" + strconv.Itoa(h.n), "itok-" + strconv.Itoa(h.n) + "-" + hex.EncodeToString([]byte(h.t.Name()))[:8]
}

// send dispatches an interaction and waits for its callback, within the
// 3 seconds Discord allows.
func (h *harness) send(i discordtest.Interaction) callback {
	h.t.Helper()
	if err := h.fake.Interaction(i); err != nil {
		h.t.Fatal(err)
	}
	return h.callback(i.ID)
}

type callback struct {
	Type int            `json:"type"`
	Data map[string]any `json:"data"`
}

func (h *harness) callback(id string) callback {
	h.t.Helper()
	h.fake.WaitFor(h.t, 3*time.Second, "callback of "+id, func() bool { _, ok := h.fake.Callback(id); return ok })
	c, _ := h.fake.Callback(id)
	at, _ := h.fake.Dispatched(id)
	if d := c.At.Sub(at); d > 3*time.Second {
		h.t.Errorf("interaction %s answered after %v, Discord allows 3 s", id, d)
	}
	var cb callback
	if err := json.Unmarshal(c.Body, &cb); err != nil {
		h.t.Fatal(err)
	}
	return cb
}

// text is everything readable in a message body: embeds' titles,
// descriptions and fields, and button custom ids.
func text(body json.RawMessage) string {
	return string(body)
}

// customIDs lists the custom ids of a message's buttons.
func customIDs(body json.RawMessage) []string {
	var m struct {
		Data       json.RawMessage `json:"data"`
		Components []struct {
			Components []struct {
				CustomID string `json:"custom_id"`
			} `json:"components"`
		} `json:"components"`
	}
	_ = json.Unmarshal(body, &m)
	if len(m.Data) > 0 {
		return customIDs(m.Data)
	}
	var out []string
	for _, row := range m.Components {
		for _, c := range row.Components {
			out = append(out, c.CustomID)
		}
	}
	return out
}

func flags(body json.RawMessage) int {
	var m struct {
		Flags int             `json:"flags"`
		Data  json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(body, &m)
	if len(m.Data) > 0 {
		return flags(m.Data)
	}
	return m.Flags
}

// cheapModel is a GPU model the sandbox offers within the test policy.
func (h *harness) cheapModel() string {
	h.t.Helper()
	sums, err := h.svc.Market(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	for _, m := range sums {
		if m.Available > 0 && m.OnDemand > 0 && m.OnDemand < 5 {
			return m.Model
		}
	}
	h.t.Fatal("no cheap model in the sandbox")
	return ""
}

// botRoles is the bot as the command layer's RoleSource, as serve wires it
// (the command layer is built before the bot).
type botRoles struct{ h *harness }

func (r botRoles) CurrentRoles(ctx context.Context, user, where string) ([]string, error) {
	return r.h.bot.CurrentRoles(ctx, user, where)
}
