package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// fixedClock is a settable clock.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// seedSpend writes ledger samples straight into the store.
func seedSpend(t *testing.T, st *storage.Store, at time.Time, samples ...commands.SpendSample) {
	t.Helper()
	if _, err := st.RecordSpend(context.Background(), at, samples); err != nil {
		t.Fatal(err)
	}
}

// A renter sees only their own rows; an admin sees everyone's and the
// orders made outside clorebot, as a row of their own.
func TestSpendRowsByRole(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *sandbox.Options) { o.Servers = 50 })
	now := time.Now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	seedSpend(t, h.store, day.Add(time.Hour),
		commands.SpendSample{CloreOrderID: 1, Owner: "slack:ALICE", Door: "slack", GPU: "RTX 4090", CreatedAt: day, SpentUSD: 3},
		commands.SpendSample{CloreOrderID: 2, Owner: "slack:BOB", Door: "slack", GPU: "RTX 3090", CreatedAt: day, SpentUSD: 2},
		commands.SpendSample{CloreOrderID: 3, GPU: "H100 PCIe", CreatedAt: day, SpentUSD: 5})
	svc := h.service()
	ctx := context.Background()
	alice, err := svc.Spend(ctx, "slack:ALICE", nil, commands.SpendArgs{})
	if err != nil {
		t.Fatal(err)
	}
	if alice.All || len(alice.Rows) != 1 || alice.Rows[0].Key != "slack:ALICE" || alice.TotalUSD != 3 {
		t.Fatalf("alice's report = %+v; want her own row only, $3", alice)
	}
	ada, err := svc.Spend(ctx, "slack:ADA", nil, commands.SpendArgs{})
	if err != nil {
		t.Fatal(err)
	}
	if !ada.All || len(ada.Rows) != 3 || ada.Rows[0].Key != "" || ada.Rows[0].Label() != commands.NotViaClorebot || ada.TotalUSD != 10 {
		t.Fatalf("admin's report = %+v; want 3 rows, the outside one first, $10", ada)
	}
	byGPU, err := svc.Spend(ctx, "slack:ADA", nil, commands.SpendArgs{By: commands.SpendByGPU, Since: commands.SpendSince7d})
	if err != nil || len(byGPU.Rows) != 3 {
		t.Fatalf("by gpu = %+v, %v", byGPU, err)
	}
	// Through the command layer, as chat and webhook text reach it.
	r := svc.Handle(ctx, req("slack:BOB", "spend --by gpu"))
	if r.Status != commands.StatusOK || len(r.Fields) != 1 || !strings.Contains(r.Fields[0].Name, "RTX 3090") || r.Image == nil {
		t.Fatalf("bob's spend reply = %+v; want one RTX 3090 row and a chart", r)
	}
	for _, f := range r.Fields {
		if strings.Contains(f.Name+f.Value, "ALICE") || strings.Contains(f.Name+f.Value, commands.NotViaClorebot) {
			t.Fatalf("bob sees someone else's spend: %+v", r.Fields)
		}
	}
	js, _ := json.Marshal(ada.JSON())
	if !strings.Contains(string(js), `"key":null`) || !strings.Contains(string(js), `"total_usd":10`) {
		t.Fatalf("JSON = %s; want the outside row's key null and total 10", js)
	}
}

// Bad flags and arguments give the usage line and change nothing.
func TestSpendBadFlagsGiveUsage(t *testing.T) {
	for _, text := range []string{"spend --since 2w", "spend --by dept", "spend everything", "spend --since", "spend --limit 3"} {
		_, err := commands.Parse(text)
		var ue *commands.UsageError
		if !errors.As(err, &ue) || !strings.Contains(ue.Usage, "spend [--since 7d|30d|month] [--by user|team|gpu]") {
			t.Errorf("Parse(%q) = %v; want a usage error with spend's usage line", text, err)
		}
	}
	for _, text := range []string{"spend", "spend --since 7d", "spend --by team --since=30d", "spend --since MONTH --by GPU"} {
		c, err := commands.Parse(text)
		if err != nil || c.Spend == nil {
			t.Errorf("Parse(%q) = %+v, %v", text, c, err)
			continue
		}
		if again, err := commands.Parse(c.String()); err != nil || *again.Spend != *c.Spend {
			t.Errorf("Parse(String()) of %q = %+v, %v", text, again.Spend, err)
		}
	}
}

// The ledger follows orders through the lifecycle tick's my_orders refresh:
// clorebot's order is attributed to its renter, an order made outside
// clorebot to nobody (admins only), and the refreshes add nothing twice.
func TestSpendLedgerFromRefresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *sandbox.Options) { o.Servers = 200; o.ProvisionDelay = 10 * time.Millisecond })
	h.policy.ConfirmAbove = 0
	svc := h.service()
	ctx := context.Background()
	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
	if r.Status != commands.StatusQueued {
		t.Fatalf("rent = %+v", r)
	}
	runAll(t, h, svc)
	// An order made on Clore's site: not clorebot's.
	offers, err := h.client.Marketplace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	outside := false
	for _, o := range clore.Offers(offers) {
		if !o.Rented && o.Accepts(clore.CurrencyUSD) {
			if err := h.client.CreateOrder(ctx, clore.CreateOrderRequest{RentingServer: o.ServerID, Type: clore.OrderOnDemand,
				Currency: clore.CurrencyUSD, Image: commands.DefaultImage}); err == nil {
				outside = true
				break
			}
		}
	}
	if !outside {
		t.Fatal("no order could be made outside clorebot")
	}
	time.Sleep(1100 * time.Millisecond) // the sandbox bills by the second
	for range 3 {
		if err := svc.RefreshOrders(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ada, err := svc.Spend(ctx, "slack:ADA", nil, commands.SpendArgs{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]float64{}
	for _, row := range ada.Rows {
		keys[row.Key] = row.USD
	}
	if len(keys) != 2 || keys["slack:ALICE"] <= 0 || keys[""] <= 0 {
		t.Fatalf("admin's rows = %+v; want alice's order and one not via clorebot, both spending", ada.Rows)
	}
	alice, err := svc.Spend(ctx, "slack:ALICE", nil, commands.SpendArgs{})
	if err != nil || len(alice.Rows) != 1 || alice.CommittedUSD <= 0 {
		t.Fatalf("alice's report = %+v, %v; want her row and what her running order commits", alice, err)
	}
}

// budget.warning at 80 % and budget.exceeded at 100 % are emitted once per
// month and identity, through the outbox, with a typed payload.
func TestBudgetEventsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *sandbox.Options) { o.Servers = 50 })
	h.policy.MonthlyBudgetUSD = 10
	clock := &fixedClock{t: time.Now()}
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	ctx := context.Background()
	now := clock.Now().UTC()
	seed := func(usd float64) {
		seedSpend(t, h.store, now, commands.SpendSample{CloreOrderID: 77, Owner: "slack:ALICE", Door: "slack", GPU: "RTX 4090",
			CreatedAt: now.Add(-time.Minute), SpentUSD: usd})
	}
	events := func() map[string]int {
		evs, err := h.store.ListEvents(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, e := range evs {
			if strings.HasPrefix(e.Type, "budget.") {
				var d commands.BudgetEvent
				if err := json.Unmarshal(e.Data, &d); err != nil || d.Owner == nil || *d.Owner != "slack:ALICE" || d.BudgetUSD != 10 {
					t.Fatalf("event %s data = %s (%v)", e.Type, e.Data, err)
				}
				out[e.Type]++
			}
		}
		return out
	}
	seed(8.5)
	for range 2 {
		if err := svc.RefreshOrders(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := events(); got["budget.warning"] != 1 || got["budget.exceeded"] != 0 {
		t.Fatalf("events at 85 %% = %v; want one warning", got)
	}
	seed(12)
	for range 2 {
		if err := svc.RefreshOrders(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := events(); got["budget.warning"] != 1 || got["budget.exceeded"] != 1 {
		t.Fatalf("events at 120 %% = %v; want one warning and one exceeded", got)
	}
	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
	if r.Status != commands.StatusDenied || !strings.Contains(r.Text, "monthly_budget_usd") {
		t.Fatalf("rent past the budget = %+v; want a refusal naming the budget", r)
	}
}

// The digest fires once per schedule slot, across restarts and processes:
// a second call, a restarted process and a second process post nothing; a
// slot recorded by a process that died before posting is posted once its
// claim lapsed.
func TestDigestOncePerSlot(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *sandbox.Options) { o.Servers = 50 })
	ctx := context.Background()
	slot := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	seedSpend(t, h.store, slot.Add(-48*time.Hour),
		commands.SpendSample{CloreOrderID: 5, Owner: "slack:ALICE", Door: "slack", GPU: "RTX 4090", CreatedAt: slot.Add(-50 * time.Hour), SpentUSD: 4})
	clock := &fixedClock{t: slot.Add(2 * time.Second)}
	to := func(time.Time) []commands.Target {
		return []commands.Target{{Platform: commands.PlatformSlack, ReplyTarget: "C-digest"}}
	}
	posts := &recorder{}
	one := h.service(func(o *commands.Options) { o.Clock, o.Notifier, o.WorkerID = clock, posts, "p1" })
	for range 2 {
		if err := one.PostDigest(ctx, slot, to); err != nil {
			t.Fatal(err)
		}
	}
	// A restarted process on the same file, and a second one beside it.
	st, err := storage.OpenAndMigrate(ctx, storagetest.At(t, filepath.Join(h.dir, "clorebot.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	two := h.service(func(o *commands.Options) { o.Store, o.Clock, o.Notifier, o.WorkerID = st, clock, posts, "p2" })
	if err := two.PostDigest(ctx, slot, to); err != nil {
		t.Fatal(err)
	}
	got := posts.all()
	if len(got) != 1 || !strings.Contains(got[0].Text, "$4.00") || got[0].Image == nil || got[0].Visibility != commands.Public {
		t.Fatalf("digests posted = %+v; want one, with $4.00 and a chart", got)
	}
	// A crash after recording the next slot and before posting it.
	next := slot.AddDate(0, 0, 7)
	if ok, err := st.ClaimDigestSlot(ctx, next, "dead", next, next.Add(5*time.Minute)); err != nil || !ok {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	clock.set(next.Add(time.Minute))
	if err := two.RetryDigests(ctx, to); err != nil || len(posts.all()) != 1 {
		t.Fatalf("retry under a live claim posted (%d posts, %v)", len(posts.all()), err)
	}
	clock.set(next.Add(6 * time.Minute))
	for range 2 {
		if err := two.RetryDigests(ctx, to); err != nil {
			t.Fatal(err)
		}
	}
	if got := posts.all(); len(got) != 2 {
		t.Fatalf("%d digests after the retry, want 2", len(got))
	}
}

// With policy.budget_action = "cancel", an exceeded budget cancels the
// owner's running orders through the normal cancel path (a cancel job,
// audited), once.
func TestBudgetActionCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *sandbox.Options) { o.Servers = 200; o.ProvisionDelay = 10 * time.Millisecond })
	h.policy.ConfirmAbove = 0
	svc := h.service()
	ctx := context.Background()
	if r := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 2")); r.Status != commands.StatusQueued {
		t.Fatalf("rent = %+v", r)
	}
	runAll(t, h, svc)
	h.policy.MonthlyBudgetUSD, h.policy.BudgetAction = 5, commands.BudgetCancel
	svc = h.service()
	now := time.Now().UTC()
	seedSpend(t, h.store, now, commands.SpendSample{CloreOrderID: 1 << 40, Owner: "slack:ALICE", Door: "slack", GPU: "RTX 3090",
		CreatedAt: now.Add(-time.Hour), SpentUSD: 6})
	for range 2 {
		if err := svc.RefreshOrders(ctx); err != nil {
			t.Fatal(err)
		}
	}
	runAll(t, h, svc)
	orders, err := h.store.ListOrders(ctx, commands.OrderFilter{RequestedBy: "slack:ALICE"})
	if err != nil || len(orders) != 1 || orders[0].State != commands.OrderCancelled {
		t.Fatalf("alice's orders = %+v, %v; want her one order cancelled", orders, err)
	}
	rows, err := h.store.ListAudit(ctx, commands.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	cancels := 0
	for _, e := range rows {
		if strings.HasPrefix(e.Command, "cancel") && e.Actor == "slack:ALICE" && strings.HasPrefix(e.Channel, "policy.budget_action") {
			cancels++
		}
	}
	if cancels != 1 {
		t.Fatalf("%d audited budget cancels, want 1: %+v", cancels, rows)
	}
}

// runAll runs every job left queued to its end.
func runAll(t *testing.T, h *harness, svc *commands.Service) {
	t.Helper()
	ctx := context.Background()
	jobs, err := h.store.ResumableJobs(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if job, err := svc.RunJob(ctx, j.ID); err != nil || job.State != commands.JobSucceeded {
			t.Fatalf("job %s = %+v, %v", j.ID, job, err)
		}
	}
}
