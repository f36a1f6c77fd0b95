package commands_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// harness is a command layer over real SQLite and the sandbox, reached
// through the real Clore client on loopback.
type harness struct {
	t       *testing.T
	dir     string
	store   *storage.Store
	sb      *sandbox.Server
	url     string
	client  *clore.Client
	policy  commands.Policy
	replies *recorder
}

// recorder is a Notifier that keeps every progress reply.
type recorder struct {
	mu      sync.Mutex
	replies []commands.Reply
}

func (r *recorder) Notify(_ context.Context, _ commands.Target, reply commands.Reply) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies = append(r.replies, reply)
	return "ref-1", nil
}

func (r *recorder) all() []commands.Reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]commands.Reply(nil), r.replies...)
}

// testPolicy: alice rents, bob rents, vera views, ada administers.
func testPolicy() commands.Policy {
	return commands.Policy{
		Admins: []string{"slack:ADA"}, Renters: []string{"slack:ALICE", "slack:BOB", "webhook:zapier"},
		Viewers: []string{"slack:VERA"}, DefaultRole: commands.RoleViewer,
		MaxPricePerHour: 5, MaxOrdersPerHour: 10, MaxActiveOrders: 3, MaxTeamActiveOrders: 10,
		MaxHourlySpend: 50, ConfirmAbove: 2, DefaultHours: 4, MaxHours: 168, MinReliability: 0.5,
	}
}

func newHarness(t testing.TB, sandboxOpts ...func(*sandbox.Options)) *harness {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st := openStore(t, filepath.Join(dir, "clorebot.db"))
	so := sandbox.Options{StatePath: filepath.Join(dir, "sandbox.db"), APIKey: "k",
		Servers: smallMarketServers, ProvisionDelay: 300 * time.Millisecond}
	for _, f := range sandboxOpts {
		f(&so)
	}
	url, stop, err := sandbox.Start(ctx, so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop() })
	h := &harness{dir: dir, store: st, url: url, policy: testPolicy(), replies: &recorder{}}
	if tt, ok := t.(*testing.T); ok {
		h.t = tt
	}
	h.client = clore.New(clore.Options{BaseURL: url, APIKey: "k", Interval: time.Millisecond, CreateInterval: time.Millisecond,
		MaxRetries: 2, Backoff: time.Millisecond, Slots: st})
	return h
}

// openStore opens a new migrated database at path (a copy of one migrated
// once, then OpenAndMigrate, which finds nothing left to apply) and closes it when the
// test ends.
func openStore(t testing.TB, path string) *storage.Store {
	t.Helper()
	if storagetest.Postgres() {
		path = storagetest.At(t, path)
	} else {
		storagetest.CopyTemplate(t, path, migrateAt)
	}
	st, err := storage.OpenAndMigrate(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// service returns a command layer; opts may adjust its options.
func (h *harness) service(opts ...func(*commands.Options)) *commands.Service {
	o := commands.Options{Store: h.store, Clore: h.client, Notifier: h.replies, Policy: h.policy,
		PollInterval: 50 * time.Millisecond, ReconcileWindow: 400 * time.Millisecond, ProvisionTimeout: 20 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	return warm(h.t, commands.New(o))
}

// warm runs the refreshes that serve's loop runs at start.
func warm(t *testing.T, svc *commands.Service) *commands.Service {
	ctx := context.Background()
	if err := errors.Join(svc.RefreshMarket(ctx), svc.RefreshOrders(ctx)); err != nil && t != nil {
		t.Fatalf("warming the service: %v", err)
	}
	return svc
}

func req(user, text string) commands.Request {
	return commands.Request{Platform: commands.PlatformSlack, User: user, Channel: "C1", Text: text,
		IdempotencyKey: "test:" + user + ":" + text + ":" + time.Now().String()}
}

// cloreOrders lists every order of the sandbox account, completed ones too.
func (h *harness) cloreOrders(t *testing.T) []clore.Order {
	t.Helper()
	orders, err := h.client.MyOrders(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	return orders
}

// offsetClock runs ahead of the system clock, as a restarted process does
// when it finds an expired lease.
type offsetClock struct{ d time.Duration }

func (c offsetClock) Now() time.Time { return time.Now().Add(c.d) }

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
	}
}

// runWithSweep is what a process runs (serve, on its scheduler): svc's job
// workers, and Sweep at once and then every interval (scheduler.SweepTick
// in serve), until ctx ends. commands has no loop of its own; these tests
// drive the same functions the scheduler does.
func runWithSweep(ctx context.Context, svc *commands.Service, every time.Duration) {
	var wg sync.WaitGroup
	wg.Go(func() { _ = svc.Run(ctx) })
	defer wg.Wait()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		_ = svc.Sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// migrateAt migrates a new database at path and closes it: the template
// storagetest.CopyTemplate copies.
func migrateAt(path string) error {
	st, err := storage.OpenAndMigrate(context.Background(), path)
	if err != nil {
		return err
	}
	return st.Close()
}
