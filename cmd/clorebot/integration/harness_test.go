package integration_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// harness is a command layer over real SQLite and the sandbox, reached
// through the real Clore client on loopback, as the command layer's own
// tests build it; a test mounts the webhook API over its service.
type harness struct {
	t      *testing.T
	dir    string
	store  *storage.Store
	url    string
	client *clore.Client
	policy commands.Policy
	api    stallClient // the webhook API over a service, when a test mounts one
	// atomicAPI is api with serve's one-transaction intake (AtomicIntake).
	atomicAPI stallClient
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

func newHarness(t *testing.T, sandboxOpts ...func(*sandbox.Options)) *harness {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := storage.OpenAndMigrate(ctx, storagetest.At(t, filepath.Join(dir, "clorebot.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	so := sandbox.Options{StatePath: filepath.Join(dir, "sandbox.db"), APIKey: "k",
		Servers: 300, ProvisionDelay: 300 * time.Millisecond} // every model the tests rent; a seventh of the decoding
	for _, f := range sandboxOpts {
		f(&so)
	}
	url, stop, err := sandbox.Start(ctx, so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop() })
	h := &harness{t: t, dir: dir, store: st, url: url, policy: testPolicy()}
	h.client = clore.New(clore.Options{BaseURL: url, APIKey: "k", Interval: time.Millisecond, CreateInterval: time.Millisecond,
		MaxRetries: 2, Backoff: time.Millisecond, Slots: st})
	return h
}

// discard is a Notifier that drops progress: these tests read the store.
type discard struct{}

func (discard) Notify(context.Context, commands.Target, commands.Reply) (string, error) {
	return "ref-1", nil
}

// service returns a command layer, warmed as serve warms it at start; opts
// may adjust its options.
func (h *harness) service(opts ...func(*commands.Options)) *commands.Service {
	o := commands.Options{Store: h.store, Clore: h.client, Notifier: discard{}, Policy: h.policy,
		PollInterval: 50 * time.Millisecond, ReconcileWindow: 400 * time.Millisecond, ProvisionTimeout: 20 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	svc := commands.New(o)
	ctx := context.Background()
	if err := errors.Join(svc.RefreshMarket(ctx), svc.RefreshOrders(ctx)); err != nil {
		h.t.Fatalf("warming the service: %v", err)
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

// storedPassword is the SSH password the job's row still holds ("" once wiped).
func storedPassword(t *testing.T, h *harness, jobID string) string {
	t.Helper()
	job, err := h.store.GetJob(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		SSHPassword string `json:"ssh_password"`
	}
	if err := json.Unmarshal(job.Params, &p); err != nil {
		t.Fatal(err)
	}
	return p.SSHPassword
}

// orderOf is the Clore order id of a succeeded rent job.
func orderOf(t *testing.T, job commands.Job) int64 {
	t.Helper()
	var res struct {
		OrderID int64 `json:"id"` // the job's result is the order's commands.OrderInfo
	}
	if err := json.Unmarshal(job.Result, &res); err != nil || res.OrderID == 0 {
		t.Fatalf("job %s result %s: %v", job.ID, job.Result, err)
	}
	return res.OrderID
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}
