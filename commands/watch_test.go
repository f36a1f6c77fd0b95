package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
)

// newSandboxHarness is newHarness with the sandbox in this process, so that
// a test can queue its answers (InjectNext) and count its requests.
func newSandboxHarness(t *testing.T) *harness {
	t.Helper()
	return newInProcessHarness(t, smallMarketServers)
}

// smallMarketServers is the harness's sandbox market: it keeps the tests
// fast under the race detector, where every market query, tick and rent
// decodes the whole marketplace. (The benchmarks use 2,000 servers.)
const smallMarketServers = 300

func smallMarket(o *sandbox.Options) { o.Servers = smallMarketServers }

// fullMarket is the sandbox's default market of 2,000 servers, for a test
// that needs a model the small one lacks or shows the market as users see it.
func fullMarket(o *sandbox.Options) { o.Servers = 2000 }

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// market is the sandbox's marketplace answer, which a test reprices and
// queues (InjectNext) as the answer to the next tick's marketplace call.
type market struct {
	t       *testing.T
	h       *harness
	raw     map[string]any
	servers []any
}

func (h *harness) market(t *testing.T) *market {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, h.url+"/marketplace", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("auth", "k")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := &market{t: t, h: h}
	if err := json.Unmarshal(body, &m.raw); err != nil {
		t.Fatalf("marketplace: %v: %.200s", err, body)
	}
	m.servers = m.raw["servers"].([]any)
	return m
}

// cheapest is the cheapest free single-GPU offer of model above the
// reliability floor, as the watch tick sees it.
func (m *market) cheapest(model string) clore.Offer {
	m.t.Helper()
	var best clore.Offer
	for _, o := range m.offers() {
		if o.Model == model && o.GPUCount == 1 && !o.Rented && o.Reliability >= m.h.policy.MinReliability &&
			o.OnDemandUSDPerHour > 0 && (best.ServerID == 0 || o.OnDemandUSDPerHour < best.OnDemandUSDPerHour) {
			best = o
		}
	}
	if best.ServerID == 0 {
		m.t.Fatalf("no %s offer", model)
	}
	return best
}

func (m *market) offers() []clore.Offer {
	raw, _ := json.Marshal(m.raw)
	var r struct {
		Servers []clore.Server `json:"servers"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		m.t.Fatal(err)
	}
	return clore.Offers(r.Servers)
}

// scale multiplies every price of server id by f.
func (m *market) scale(id int64, f float64) {
	for _, s := range m.servers {
		sv := s.(map[string]any)
		if int64(sv["id"].(float64)) != id {
			continue
		}
		price := sv["price"].(map[string]any)
		for _, k := range []string{"on_demand", "spot", "usd"} {
			if p, ok := price[k].(map[string]any); ok {
				for c, v := range p {
					if x, ok := v.(float64); ok {
						p[c] = x * f
					}
				}
			}
		}
		return
	}
	m.t.Fatalf("no server %d", id)
}

// serveNext queues the marketplace as it is now for the next marketplace call.
func (m *market) serveNext() {
	raw, err := json.Marshal(m.raw)
	if err != nil {
		m.t.Fatal(err)
	}
	m.h.sb.InjectNext("marketplace", http.StatusOK, string(raw))
}

// marketplaceCalls counts the marketplace requests the sandbox answered.
func (h *harness) marketplaceCalls() int {
	n := 0
	for _, r := range h.sb.Requests() {
		if strings.Contains(r.Endpoint, "marketplace") && !strings.Contains(r.Endpoint, "spot") {
			n++
		}
	}
	return n
}

func (h *harness) watches(t *testing.T) []commands.Watch {
	t.Helper()
	ws, err := h.store.ListWatches(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func tick(t *testing.T, svc *commands.Service) {
	t.Helper()
	if err := svc.Tick(context.Background()); err != nil {
		t.Fatalf("tick: %v", err)
	}
}

// alert is a watch.triggered event as its data says it: the text chat
// sinks post, and, with Confirm, the rent job its Rent now button confirms.
// How a chat door words the event and draws the button is bot/chat's
// (chat.EventReply), tested there on these same fields.
type alert struct {
	Text    string `json:"message"`
	Confirm bool   `json:"confirm"`
	JobID   string `json:"job_id"`
}

// alerts are the watch.triggered events so far.
func (h *harness) alerts(t *testing.T) []alert {
	t.Helper()
	evs, err := h.store.ListEvents(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []alert
	for _, e := range evs {
		if e.Type != "watch.triggered" {
			continue
		}
		var a alert
		if err := json.Unmarshal(e.Data, &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// jobOfButton is the job id an alert's Rent now button confirms, "" when
// it has none.
func jobOfButton(a alert) string {
	if !a.Confirm {
		return ""
	}
	return a.JobID
}

// rentNow is the click on a's Rent now button, as bot/chat draws it
// (confirm:<job id>, the job id as its value).
func (a alert) rentNow() *commands.Action {
	return &commands.Action{ID: "confirm:" + a.JobID, Value: a.JobID}
}

func TestWatchAlertsOnceOnAPriceDropAndRearmsWithHysteresis(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	clock := newFakeClock()
	h.policy.RearmMargin, h.policy.Cooldown = 0.05, time.Hour
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	m := h.market(t)
	best := m.cheapest("RTX 4090")
	base := best.OnDemandUSDPerHour
	target := base * 0.9
	r := svc.Handle(context.Background(), req("slack:ALICE", fmt.Sprintf("watch 4090 %.4f", target)))
	if r.Status != commands.StatusOK {
		t.Fatalf("watch: %+v", r)
	}
	m.serveNext()
	tick(t, svc)
	if n := len(h.alerts(t)); n != 0 {
		t.Fatalf("%d alerts above the target", n)
	}
	// The price drops under the target and hovers there for many ticks.
	m.scale(best.ServerID, 0.85)
	for i := range 6 {
		calls := h.marketplaceCalls()
		m.serveNext()
		tick(t, svc)
		if got := h.marketplaceCalls() - calls; got != 1 {
			t.Fatalf("tick %d made %d marketplace calls, want 1", i, got)
		}
		clock.Advance(time.Minute)
	}
	alerts := h.alerts(t)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts while the price hovered under the target, want 1: %+v", len(alerts), alerts)
	}
	a := alerts[0]
	if !a.Confirm || jobOfButton(a) == "" || !strings.Contains(a.Text, "Watch #") {
		t.Fatalf("alert has no Rent now button confirm:<job id>: %+v", a)
	}
	job, err := h.store.GetJob(context.Background(), jobOfButton(a))
	if err != nil || job.State != commands.JobAwaitingConfirmation || job.RequestedBy != "slack:ALICE" {
		t.Fatalf("alert's job = %+v, %v", job, err)
	}
	// Just above the target but within the margin: still not re-armed.
	m.scale(best.ServerID, 1/0.85*0.92)
	m.serveNext()
	tick(t, svc)
	if w := h.watches(t)[0]; w.State != commands.WatchTriggered {
		t.Fatalf("re-armed within the margin: %s", w.State)
	}
	// Above target × (1 + margin): re-armed; a new drop alerts again.
	m.scale(best.ServerID, 1/0.92*1.0)
	m.serveNext()
	tick(t, svc)
	if w := h.watches(t)[0]; w.State != commands.WatchActive {
		t.Fatalf("not re-armed above the margin: %s", w.State)
	}
	m.scale(best.ServerID, 0.85)
	m.serveNext()
	tick(t, svc)
	if n := len(h.alerts(t)); n != 2 {
		t.Fatalf("%d alerts after re-arming and a new drop, want 2", n)
	}
	var events int
	evs, _ := h.store.ListEvents(context.Background(), 0, 0)
	for _, e := range evs {
		if e.Type == "watch.triggered" {
			events++
		}
	}
	if events != 2 {
		t.Fatalf("%d watch.triggered events, want 2", events)
	}
}

func TestWatchRearmsAfterTheCooldownWhileThePriceHovers(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	clock := newFakeClock()
	h.policy.RearmMargin, h.policy.Cooldown = 0.05, time.Hour
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	best := h.market(t).cheapest("RTX 4090")
	svc.Handle(context.Background(), req("slack:ALICE", fmt.Sprintf("watch 4090 %.4f", best.OnDemandUSDPerHour*1.01)))
	for range 3 {
		tick(t, svc)
		clock.Advance(20 * time.Minute)
	}
	if n := len(h.alerts(t)); n != 1 {
		t.Fatalf("%d alerts within the cooldown, want 1", n)
	}
	clock.Advance(time.Minute) // 61 minutes after the trigger
	tick(t, svc)
	if n := len(h.alerts(t)); n != 2 {
		t.Fatalf("%d alerts after the cooldown, want 2", n)
	}
}

func TestRentNowButtonRentsOnceOnTwoClicks(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	svc := h.service()
	best := h.market(t).cheapest("RTX 4090")
	svc.Handle(context.Background(), req("slack:ALICE", fmt.Sprintf("watch 4090 %.4f", best.OnDemandUSDPerHour*1.01)))
	tick(t, svc)
	alerts := h.alerts(t)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts", len(alerts))
	}
	click := func(user string) commands.Reply {
		return svc.Handle(context.Background(), commands.Request{Platform: commands.PlatformSlack, User: user,
			Action:         alerts[0].rentNow(),
			IdempotencyKey: "click:" + time.Now().String()})
	}
	if r := click("slack:BOB"); r.Status != commands.StatusDenied {
		t.Fatalf("someone else's click: %+v", r)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { click("slack:ALICE") })
	}
	wg.Wait()
	if _, err := svc.RunJob(context.Background(), jobOfButton(alerts[0])); err != nil {
		t.Fatal(err)
	}
	job, _ := h.store.GetJob(context.Background(), jobOfButton(alerts[0]))
	if job.State != commands.JobSucceeded {
		t.Fatalf("job %s: %s", job.State, job.Error)
	}
	if n := len(h.cloreOrders(t)); n != 1 {
		t.Fatalf("%d orders after two clicks, want 1", n)
	}
	if r := click("slack:ALICE"); !strings.Contains(r.Text, "already") {
		t.Fatalf("third click: %+v", r)
	}
}

func TestAutoRentWatchRentsOnceOverManyTicksAndARestart(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	ctx := context.Background()
	svc := h.service()
	best := h.market(t).cheapest("RTX 4090")
	r := svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("watch 4090 %.4f --auto-rent", best.OnDemandUSDPerHour*1.01)))
	if r.Status != commands.StatusOK {
		t.Fatalf("watch: %+v", r)
	}
	tick(t, svc)
	w := h.watches(t)[0]
	if w.State != commands.WatchTriggered || w.JobID == "" {
		t.Fatalf("watch after the trigger: %+v", w)
	}
	// Low ticks while the rent runs: no second rent.
	tick(t, svc)
	tick(t, svc)
	if job, err := svc.RunJob(ctx, w.JobID); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("the watch's rent: %+v, %v", job, err)
	}
	tick(t, svc)
	if w := h.watches(t)[0]; w.State != commands.WatchDone || w.Triggers != 1 {
		t.Fatalf("watch after the rent: %+v", w)
	}
	// A restarted process over the same database: more low ticks, no rent.
	svc2 := h.service()
	for range 5 {
		tick(t, svc2)
	}
	if n := len(h.cloreOrders(t)); n != 1 {
		t.Fatalf("%d orders, want exactly 1", n)
	}
}

func TestWatchExpires(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	clock := newFakeClock()
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	svc.Handle(context.Background(), req("slack:ALICE", "watch 4090 0.01 --for 2h"))
	tick(t, svc)
	if w := h.watches(t)[0]; w.State != commands.WatchActive {
		t.Fatalf("state %s before expiry", w.State)
	}
	clock.Advance(2*time.Hour + time.Second)
	tick(t, svc)
	if w := h.watches(t)[0]; w.State != commands.WatchExpired {
		t.Fatalf("state %s after expiry", w.State)
	}
	if r := svc.Handle(context.Background(), req("slack:ALICE", "watch list")); r.Text != "No active watches." {
		t.Fatalf("watch list: %+v", r)
	}
}

func TestWatchCreationIsIdempotentAndBadInputStoresNothing(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	svc := h.service()
	ctx := context.Background()
	rq := req("slack:ALICE", "watch 4090 0.30")
	first, again := svc.Handle(ctx, rq), svc.Handle(ctx, rq)
	if first.Status != commands.StatusOK || again.Status != commands.StatusOK || len(h.watches(t)) != 1 {
		t.Fatalf("retried watch: %+v / %+v, %d watches", first, again, len(h.watches(t)))
	}
	for _, text := range []string{
		"watch nosuchgpu 0.30", "watch 4090 0", "watch 4090 -1", "watch 4090 5000",
		"watch 4090 0.3 --for soon", "watch 4090 0.3 --count 17", "watch 4090 9 --auto-rent",
	} {
		r := svc.Handle(ctx, req("slack:ALICE", text))
		if r.Status != commands.StatusError && r.Status != commands.StatusDenied {
			t.Errorf("%q: %+v", text, r)
		}
	}
	id := h.watches(t)[0].ID
	if r := svc.Handle(ctx, req("slack:BOB", fmt.Sprintf("watch cancel %d", id))); r.Status != commands.StatusError {
		t.Errorf("bob cancelled alice's watch: %+v", r)
	}
	if n := len(h.watches(t)); n != 1 {
		t.Fatalf("%d watches stored after bad input", n)
	}
	if w := h.watches(t)[0]; w.State != commands.WatchActive || len(w.Models) == 0 {
		t.Fatalf("watch: %+v", w)
	}
	tick(t, svc)
	if r := svc.Handle(ctx, req("slack:ALICE", "watch list")); len(r.Fields) != 1 || !strings.Contains(r.Fields[0].Value, "last price seen $") {
		t.Fatalf("watch list: %+v", r)
	}
}

// An auto-rent watch keeps its owner's platform roles; when it triggers,
// the owner's current roles are asked for (no interaction brings them then)
// and checked against
// the policy of that time.
func TestAutoRentWatchChecksOwnerRoles(t *testing.T) {
	t.Parallel()
	for _, keepRole := range []bool{true, false} {
		t.Run(fmt.Sprintf("role still listed %v", keepRole), func(t *testing.T) {
			t.Parallel()
			h := newSandboxHarness(t)
			h.policy.Renters = append(h.policy.Renters, "discord-role:7")
			src := &fakeRoles{roles: map[string][]string{"discord:5": {"discord-role:7"}}}
			withSource := func(o *commands.Options) {
				o.RoleSources = map[string]commands.RoleSource{commands.PlatformDiscord: src}
			}
			svc := h.service(withSource)
			best := h.market(t).cheapest("RTX 4090")
			r := svc.Handle(context.Background(), commands.Request{Platform: commands.PlatformDiscord, User: "discord:5",
				Roles: []string{"discord-role:7"}, Channel: "G/C", IdempotencyKey: "discord:cmd:w1",
				Text: fmt.Sprintf("watch 4090 %.4f --auto-rent", best.OnDemandUSDPerHour*1.01)})
			if r.Status != commands.StatusOK {
				t.Fatalf("watch by a member of a renter role: %+v", r)
			}
			if w := h.watches(t)[0]; !slices.Equal(w.OwnerRoles, []string{"discord-role:7"}) {
				t.Fatalf("stored owner roles %v", w.OwnerRoles)
			}
			if !keepRole {
				svc = h.service(withSource, func(o *commands.Options) { o.Policy.Renters = []string{"slack:ALICE"} })
			}
			tick(t, svc)
			w := h.watches(t)[0]
			if w.Triggers != 1 || (w.JobID != "") != keepRole {
				t.Fatalf("after the trigger: job %q, triggers %d; want a rent job: %v", w.JobID, w.Triggers, keepRole)
			}
			if !keepRole && (w.State != commands.WatchRefused || !strings.Contains(w.Error, "renter role")) {
				t.Fatalf("a refused auto-rent watch: %+v", w)
			}
		})
	}
}

// The tick keeps the live watches in memory: a watch made, and one
// cancelled, by another process on the same database (clorebot exec beside
// serve) are seen by the next tick.
func TestTickSeesWatchesMadeAndCancelledElsewhere(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	ctx := context.Background()
	serve := h.service()
	tick(t, serve) // the cache is loaded, with no watch yet
	exec := h.service()
	price := h.market(t).cheapest("RTX 4090").OnDemandUSDPerHour * 1.01
	var ids []string
	for i := range 2 {
		r := exec.Handle(ctx, req("slack:ALICE", fmt.Sprintf("watch 4090 %.4f --count 1 --for %dh", price, i+1)))
		if r.Status != commands.StatusOK {
			t.Fatalf("watch: %+v", r)
		}
		ids = append(ids, strings.TrimPrefix(strings.Fields(r.Title)[1], "#"))
	}
	if r := exec.Handle(ctx, req("slack:ALICE", "watch cancel "+ids[1])); r.Status != commands.StatusOK {
		t.Fatalf("cancel: %+v", r)
	}
	tick(t, serve)
	alerts := h.alerts(t)
	if len(alerts) != 1 || !strings.Contains(alerts[0].Text, "Watch #"+ids[0]+":") {
		t.Fatalf("alerts: %+v", alerts)
	}
	for _, w := range h.watches(t) {
		want := commands.WatchTriggered
		if fmt.Sprint(w.ID) == ids[1] {
			want = commands.WatchCancelled
		}
		if w.State != want {
			t.Errorf("watch %d: %s, want %s", w.ID, w.State, want)
		}
	}
}

// A tick, however many watches there are, asks Clore for the marketplace
// once and for my_orders once (the wallets at most once an hour).
func TestOneMarketplaceAndOneMyOrdersCallPerTick(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	clock := newFakeClock()
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	ctx := context.Background()
	for i := range 50 {
		if r := svc.Handle(ctx, req([]string{"slack:ALICE", "slack:BOB", "slack:ADA"}[i%3], fmt.Sprintf("watch 4090 0.0%d --count %d", 1+i%9, 1+i%4))); r.Status != commands.StatusOK {
			t.Fatalf("watch: %+v", r)
		}
	}
	count := func(endpoint string) int {
		n := 0
		for _, r := range h.sb.Requests() {
			if strings.HasSuffix(r.Endpoint, endpoint) {
				n++
			}
		}
		return n
	}
	for i := range 3 {
		market, orders := count("marketplace"), count("my_orders")
		tick(t, svc)
		if m, o := count("marketplace")-market, count("my_orders")-orders; m != 1 || o != 1 {
			t.Fatalf("tick %d: %d marketplace and %d my_orders calls, want 1 and 1", i, m, o)
		}
		clock.Advance(time.Minute)
	}
}
