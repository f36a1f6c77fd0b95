package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
)

// The test binary, run as clorebot by a test (CLOREBOTTEST_ARGS), talks to
// the test's one sandbox when CLOREBOTTEST_SANDBOX_URL names it.
func init() {
	if u := os.Getenv("CLOREBOTTEST_SANDBOX_URL"); u != "" {
		sharedSandboxURL = u
	}
}

// The spacings of the two-process test. Clore allows 1 call/s and one
// create_order per 5 s; the test shortens them as the other end-to-end
// tests do in sandbox mode (20 ms, 50 ms), less far: arrival times are
// stamped by the sandbox in this process, which the race detector and a
// loaded machine slow down too. The sandbox enforces a quarter of the client's spacing
// (sandboxLimit: loopback jitter under load), across both processes since
// they share one key and one sandbox.
const (
	haMinInterval    = 200 * time.Millisecond
	haCreateInterval = 500 * time.Millisecond
)

// haPostgres creates a database of this test alone on the PostgreSQL of
// CLOREBOT_TEST_POSTGRES_URL (skipping without one) and drops it at the
// end; it returns its URL.
func haPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("CLOREBOT_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("CLOREBOT_TEST_POSTGRES_URL is not set: two serve processes need a PostgreSQL (CI sets it; see .ci/run)")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to CLOREBOT_TEST_POSTGRES_URL: %v", err)
	}
	name := fmt.Sprintf("clorebot_ha_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = admin.Close(context.Background())
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// haNode is one serve process of the pair.
type haNode struct {
	name string
	p    *clorebotProcess
	base string
}

// haPair is two serve processes on one database, one sandbox and one
// webhook secret.
type haPair struct {
	t      *testing.T
	dir    string
	config string
	pg     string
	env    []string
	sb     *sandbox.Server
	nodes  []*haNode
}

func newHAPair(t *testing.T) *haPair {
	t.Helper()
	pg := haPostgres(t)
	dir := t.TempDir()
	sb, err := sandbox.New(sandbox.Options{StatePath: filepath.Join(dir, "clore-double.db"), Servers: 3000,
		ProvisionDelay: 300 * time.Millisecond, RateLimit: true,
		MinInterval: sandboxLimit(haMinInterval, time.Second), CreateInterval: sandboxLimit(haCreateInterval, 5*time.Second),
		InitialBalances: map[string]float64{"USD-Blockchain": 1e7, "CLORE-Blockchain": 1e10, "bitcoin": 100}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sb)
	t.Cleanup(func() { ts.Close(); _ = sb.Close() })
	h := &haPair{t: t, dir: dir, config: filepath.Join(dir, "clorebot.toml"), pg: pg, sb: sb}
	writeConfig(t, h.config, fmt.Sprintf(`[clore]
sandbox = true
min_interval = %q
create_interval = %q
[storage]
path = %q
[http]
listen = "127.0.0.1:0"
[watch]
interval = "1s"
[log]
format = "json"
[policy]
max_price_per_hour = 10000
max_orders_per_hour = 10000
max_active_orders = 10000
max_team_active_orders = 10000
max_hourly_spend = 1000000
min_reliability = 0
[webhook]
rate_per_minute = 100000
ip_rate_per_minute = 100000
[[webhook.keys]]
name = "zap"
secret = %q
roles = ["renter"]
`, haMinInterval.String(), haCreateInterval.String(), filepath.ToSlash(filepath.Join(dir, "clorebot.db")), e2eKeySecret))
	h.env = []string{"CLOREBOTTEST_SANDBOX_URL=" + ts.URL + "/v1", "CLOREBOT_STORAGE_URL=" + pg}
	return h
}

var servingAddr = regexp.MustCompile(`"msg":"clorebot serving"[^\n]*?"addr":"([^"]+)"`)

// start starts one more serve and waits until it is ready.
func (h *haPair) start(name string) *haNode {
	h.t.Helper()
	p := startClorebot(h.t, h.dir, h.env, "--config", h.config, "serve")
	p.await(h.t, `"msg":"clorebot serving"`)
	m := servingAddr.FindStringSubmatch(p.stderr.String() + p.stdout.String())
	if m == nil {
		h.t.Fatalf("%s: no address in its log:\n%s", name, p.stderr)
	}
	n := &haNode{name: name, p: p, base: "http://" + m[1]}
	waitReady(h.t, n.base)
	h.nodes = append(h.nodes, n)
	return n
}

// role is what n's /readyz says of it: "leader" or "follower".
func (n *haNode) role(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(n.base + "/readyz")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var r struct {
		Checks map[string]string `json:"checks"`
	}
	if json.NewDecoder(resp.Body).Decode(&r) != nil {
		return ""
	}
	return r.Checks["leader"]
}

// leader waits until exactly one node leads and returns it.
func (h *haPair) leader(within time.Duration) (leader, other *haNode) {
	h.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var leaders []*haNode
		for _, n := range h.nodes {
			if n.role(h.t) == "leader" {
				leaders = append(leaders, n)
			}
		}
		if len(leaders) == 1 {
			for _, n := range h.nodes {
				if n != leaders[0] {
					return leaders[0], n
				}
			}
			return leaders[0], nil
		}
	}
	h.t.Fatalf("no single leader within %s", within)
	return nil, nil
}

// models returns want GPU models with free offers, round robin over the
// models with a few free servers: rents of one model at once would
// exhaust its cheapest offers and stop at a confirmation (a dearer
// fail-over, DESIGN.md §2).
func (h *haPair) models(n *haNode, want int) []string {
	h.t.Helper()
	key, _ := webhook.ConfiguredKey("zap", e2eKeySecret)
	code, _, body := send(h.t, http.MethodGet, n.base+"/webhook/marketplace", webhook.SignedHeaders(key.Secret, webhook.NewMessageID(), time.Now(), nil), nil)
	var market struct {
		Models []struct {
			Model     string `json:"model"`
			Available int    `json:"available"`
		} `json:"models"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &market) != nil {
		h.t.Fatalf("GET /webhook/marketplace = %d %.300s", code, body)
	}
	var free []string
	for _, m := range market.Models {
		if m.Available >= 6 && !strings.HasPrefix(m.Model, "Mixed") {
			free = append(free, m.Model)
		}
	}
	if len(free) == 0 {
		h.t.Fatalf("nothing free in the marketplace: %.300s", body)
	}
	out := make([]string, want)
	for i := range out {
		out[i] = free[i%len(free)]
	}
	h.t.Logf("%d rents over %d GPU models", want, len(free))
	return out
}

// waitRent waits for a rent job to end, confirming it when it stops at a
// confirmation, and returns the job.
// confirmIfAsked confirms the rent id on n when it awaits confirmation.
func (h *haPair) confirmIfAsked(n *haNode, id string) {
	h.t.Helper()
	key, _ := webhook.ConfiguredKey("zap", e2eKeySecret)
	code, _, body := send(h.t, http.MethodGet, n.base+"/webhook/jobs/"+id, webhook.SignedHeaders(key.Secret, webhook.NewMessageID(), time.Now(), nil), nil)
	var job map[string]any
	if code != http.StatusOK || json.Unmarshal(body, &job) != nil || job["state"] != commands.JobAwaitingConfirmation {
		return
	}
	confirm := fmt.Appendf(nil, `{"job_id": %q}`, id)
	if code, _, answer := send(h.t, http.MethodPost, n.base+"/webhook/jobs/"+id+"/confirm",
		webhook.SignedHeaders(key.Secret, webhook.NewMessageID(), time.Now(), confirm), confirm); code >= 300 {
		h.t.Fatalf("confirm %s = %d %s", id, code, answer)
	}
}

func (h *haPair) waitRent(n *haNode, id string) map[string]any {
	h.t.Helper()
	for {
		job := waitJob(h.t, n.base, id)
		if job["state"] != commands.JobAwaitingConfirmation {
			return job
		}
		key, _ := webhook.ConfiguredKey("zap", e2eKeySecret)
		body := fmt.Appendf(nil, `{"job_id": %q}`, id)
		code, _, answer := send(h.t, http.MethodPost, n.base+"/webhook/jobs/"+id+"/confirm",
			webhook.SignedHeaders(key.Secret, webhook.NewMessageID(), time.Now(), body), body)
		if code >= 300 {
			h.t.Fatalf("confirm %s = %d %s", id, code, answer)
		}
	}
}

// signedRent is a create-order body with its signed headers.
type signedRent struct {
	body []byte
	h    http.Header
}

func newSignedRent(gpu string, hours float64) signedRent {
	key, _ := webhook.ConfiguredKey("zap", e2eKeySecret)
	body := fmt.Appendf(nil, `{"gpu_type": %q, "hours": %g}`, gpu, hours)
	return signedRent{body: body, h: webhook.SignedHeaders(key.Secret, webhook.NewMessageID(), time.Now(), body)}
}

// post sends r to n and returns the job id of a 202.
func (r signedRent) post(t *testing.T, n *haNode) (jobID string, replayed bool) {
	t.Helper()
	code, hdr, body := send(t, http.MethodPost, n.base+"/webhook/create-order", r.h, r.body)
	var q struct {
		JobID string `json:"job_id"`
	}
	if code != http.StatusAccepted || json.Unmarshal(body, &q) != nil || q.JobID == "" {
		t.Fatalf("create-order to %s = %d %s", n.name, code, body)
	}
	return q.JobID, hdr.Get("Idempotent-Replayed") == "true"
}

// leaseOwner is the worker that holds job id's lease ("" when none).
func (h *haPair) leaseOwner(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, h.pg)
	if err != nil {
		return ""
	}
	defer conn.Close(context.Background())
	var owner string
	_ = conn.QueryRow(ctx, "SELECT lease_owner FROM jobs WHERE id = $1", id).Scan(&owner)
	return owner
}

// creates are the create_order calls the sandbox answered with success.
func (h *haPair) creates() []sandbox.RequestRecord {
	var out []sandbox.RequestRecord
	for _, r := range h.sb.Requests() {
		if r.Endpoint == "create_order" && r.Status == http.StatusOK && r.Code == 0 {
			out = append(out, r)
		}
	}
	return out
}

// limits checks the sandbox's view of Clore's limits across both
// processes: no 429 at all, and logs the tightest spacings seen.
func (h *haPair) limits() {
	h.t.Helper()
	var violations int
	var last, lastCreate time.Time
	minGap, minCreateGap := time.Hour, time.Hour
	recs := h.sb.Requests()
	slices.SortStableFunc(recs, func(a, b sandbox.RequestRecord) int { return a.At.Compare(b.At) })
	for i, r := range recs {
		if r.Status == http.StatusTooManyRequests {
			violations++
			h.t.Logf("429 at %s: %s after %s %s", r.At.Format("15:04:05.000"), r.Endpoint, recs[max(i-1, 0)].Endpoint, r.At.Sub(recs[max(i-1, 0)].At))
		}
		if !last.IsZero() {
			minGap = min(minGap, r.At.Sub(last))
		}
		last = r.At
		if r.Endpoint == "create_order" {
			if !lastCreate.IsZero() {
				minCreateGap = min(minCreateGap, r.At.Sub(lastCreate))
			}
			lastCreate = r.At
		}
	}
	byEndpoint := map[string]int{}
	for _, r := range recs {
		byEndpoint[r.Endpoint]++
	}
	h.t.Logf("Clore double: calls by endpoint %v", byEndpoint)
	h.t.Logf("Clore double: %d requests, tightest spacing %s (client %s), create_order %s (client %s), %d rate-limit violations",
		len(recs), minGap, haMinInterval, minCreateGap, haCreateInterval, violations)
	if violations != 0 {
		h.t.Errorf("%d rate-limit violations at the Clore double, want 0", violations)
	}
}

// TestTwoServesOnOnePostgres is DESIGN.md §8 end to end: two serve
// processes on one PostgreSQL, one sandbox, one webhook secret.
//   - 50 signed create-orders spread over both, each redelivered to the
//     other: one job and one order each.
//   - kill -9 of the leader right after the create_order of a rent it
//     runs: the other leads, resumes the job within 15 s with no second
//     order, and cancels the order at its TTL.
//   - no call over Clore's limits, counted at the sandbox.
func TestTwoServesOnOnePostgres(t *testing.T) {
	h := newHAPair(t)
	a := h.start("a")
	b := h.start("b")
	leader, follower := h.leader(15 * time.Second)
	t.Logf("%s leads, %s follows", leader.name, follower.name)

	// 50 rents, each to one process and redelivered to the other.
	const rents = 50
	gpus := h.models(a, rents+1)
	jobs := make([]string, rents)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range rents {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			first, again := h.nodes[i%2], h.nodes[1-i%2]
			r := newSignedRent(gpus[i], 1)
			id, _ := r.post(t, first)
			id2, replayed := r.post(t, again)
			if id2 != id || !replayed {
				t.Errorf("rent %d redelivered to %s: job %s (replayed %v), want %s replayed", i, again.name, id2, replayed, id)
			}
			jobs[i] = id
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	orders := map[float64]string{}
	for i, id := range jobs {
		job := h.waitRent(h.nodes[i%2], id)
		if job["state"] != commands.JobSucceeded {
			t.Fatalf("rent %d ended %v", i, job)
		}
		result, _ := job["result"].(map[string]any)
		oid, _ := result["id"].(float64)
		if prev, dup := orders[oid]; dup || oid == 0 {
			t.Fatalf("rent %d: order %v, already that of job %s", i, oid, prev)
		}
		orders[oid] = id
	}
	if n := len(h.creates()); n != rents {
		t.Fatalf("the sandbox created %d orders for %d rents", n, rents)
	}

	// kill -9 the leader right after the create_order of a rent it runs.
	leader, follower = h.leader(5 * time.Second)
	r := newSignedRent(gpus[rents], 0.01) // 36 s
	id, _ := r.post(t, leader)
	asked := time.Now()
	for deadline := time.Now().Add(30 * time.Second); len(h.creates()) == rents; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the rent on the leader sent no create_order: %v", waitJob(t, leader.base, id))
		}
		// The sandbox's prices drift: a quote above policy.confirm_above
		// waits for its confirmation, as the rents above do (waitRent).
		if time.Since(asked) > 500*time.Millisecond {
			asked = time.Now()
			h.confirmIfAsked(leader, id)
		}
	}
	if err := leader.p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	owner := h.leaseOwner(id)
	resumedBy := make(chan time.Duration, 1)
	go func() {
		for time.Since(killed) < 30*time.Second {
			if o := h.leaseOwner(id); o != "" && o != owner {
				resumedBy <- time.Since(killed)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		resumedBy <- -1
	}()
	h.nodes = slices.DeleteFunc(h.nodes, func(n *haNode) bool { return n == leader })
	if next, _ := h.leader(15 * time.Second); next != follower {
		t.Fatalf("%s leads after the kill", next.name)
	}
	t.Logf("failover: %s leads %s after kill -9 of %s", follower.name, time.Since(killed).Round(time.Millisecond), leader.name)
	job := h.waitRent(follower, id)
	finished := time.Since(killed)
	if job["state"] != commands.JobSucceeded {
		t.Fatalf("the rent interrupted by kill -9 ended %v", job)
	}
	switch resumed := <-resumedBy; {
	case resumed < 0:
		t.Errorf("the survivor never took the rent's lease (held by %q at the kill)", owner)
	case resumed > 15*time.Second:
		t.Errorf("the survivor resumed the rent %s after the kill, want within 15 s", resumed)
	default:
		t.Logf("the survivor resumed the rent %s after the kill (lease %s + sweep %s), finished it %s after",
			resumed.Round(time.Millisecond), commands.DefaultLease, commands.DefaultSweepInterval, finished.Round(time.Millisecond))
	}
	if n := len(h.creates()); n != rents+1 {
		t.Fatalf("the sandbox created %d orders for %d rents", n, rents+1)
	}
	result, _ := job["result"].(map[string]any)
	oid, _ := result["id"].(float64)
	endsAt, err := time.Parse(time.RFC3339, fmt.Sprint(result["ends_at"]))
	if err != nil || oid == 0 {
		t.Fatalf("the resumed rent's order: %v", result)
	}
	t.Logf("the interrupted rent's order %v ends at %s", int64(oid), endsAt.Format(time.TimeOnly))

	// Its TTL cancel, by the new leader, on time: within a tick and the
	// limiter's queue (watch.interval 1 s; the bound allows for the race
	// detector on a loaded machine, where a tick takes seconds).
	var cancelAt time.Time
	for deadline := endsAt.Add(20 * time.Second); cancelAt.IsZero(); time.Sleep(100 * time.Millisecond) {
		for _, rec := range h.sb.Requests() {
			if rec.Endpoint == "cancel_order" && rec.Status == http.StatusOK && rec.Code == 0 {
				cancelAt = rec.At
				break
			}
		}
		if cancelAt.IsZero() && time.Now().After(deadline) {
			t.Fatalf("no cancel_order by %s (the order ends at %s)", deadline.Format(time.TimeOnly), endsAt.Format(time.TimeOnly))
		}
	}
	late := cancelAt.Sub(endsAt)
	t.Logf("TTL cancel %s after the order's end", late.Round(time.Millisecond))
	if late < -time.Second || late > 8*time.Second {
		t.Errorf("the TTL cancel came %s after the order's end, want within 8 s (watch.interval 1 s)", late)
	}
	h.limits()
	if strings.Contains(follower.p.stderr.String()+follower.p.stdout.String(), `"level":"ERROR"`) {
		t.Logf("the survivor logged errors:\n%s", follower.p.stderr)
	}
	_ = b
}

// TestPausedLeaderStepsDown: SIGSTOP of the leader (a paused VM, a
// partition seen from the database): the server ends its lock's session
// after storage.LeaderSessionTimeout and the other leads within 15 s; on
// SIGCONT the old leader's first word on leadership is that it lost it,
// and it serves on as a follower.
func TestPausedLeaderStepsDown(t *testing.T) {
	h := newHAPair(t)
	h.start("a")
	h.start("b")
	leader, follower := h.leader(15 * time.Second)
	pid := leader.p.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	for follower.role(t) != "leader" {
		if time.Since(stopped) > 15*time.Second {
			t.Fatalf("%s does not lead 15 s after %s was paused", follower.name, leader.name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s leads %s after SIGSTOP of %s", follower.name, time.Since(stopped).Round(time.Millisecond), leader.name)
	logged := len(leader.p.stderr.String())
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	leader.p.await(t, "leadership lost")
	after := leader.p.stderr.String()[logged:]
	// Either its clock (heartbeat late) or its dead connection (lock
	// connection lost) ends the term first, whichever goroutine runs first
	// on waking; IsLeader says no from the first instruction either way
	// (storage's TestLeaderTermEndsOnLateHeartbeatBeforeTimer).
	if i := strings.Index(after, "leadership"); i < 0 || !strings.HasPrefix(after[i:], "leadership lost") {
		t.Fatalf("after SIGCONT %s logged:\n%s", leader.name, after)
	}
	for deadline := time.Now().Add(10 * time.Second); leader.role(t) != "follower"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s after SIGCONT: /readyz says %q, want follower", leader.name, leader.role(t))
		}
	}
	if next, _ := h.leader(5 * time.Second); next != follower {
		t.Fatalf("%s leads after %s woke", next.name, leader.name)
	}
	h.limits()
}

// TestKillLeaderAtEveryRentStep kills the leader with SIGKILL at each step of
// a rent it runs (accepted, before any Clore call; create_order sent; the
// order seen in my_orders, provisioning), starting a new process after each:
// every rent ends with exactly one order, resumed by the survivor.
func TestKillLeaderAtEveryRentStep(t *testing.T) {
	h := newHAPair(t)
	h.start("a")
	h.start("b")
	gpus := h.models(h.nodes[0], 6)
	count := func(endpoint string) int {
		n := 0
		for _, r := range h.sb.Requests() {
			if r.Endpoint == endpoint && r.Status == http.StatusOK && r.Code == 0 {
				n++
			}
		}
		return n
	}
	steps := []struct {
		name string
		at   func(creates, myOrders int) bool // when to kill, from the calls before the rent
	}{
		{"accepted", func(int, int) bool { return true }},
		{"create_order sent", func(c, _ int) bool { return count("create_order") > c }},
		{"provisioning", func(c, m int) bool { return count("create_order") > c && count("my_orders") > m }},
	}
	next := 'c'
	for i, step := range steps {
		leader, follower := h.leader(15 * time.Second)
		creates, myOrders := count("create_order"), count("my_orders")
		id, _ := newSignedRent(gpus[i], 1).post(t, leader)
		asked := time.Now()
		for deadline := time.Now().Add(30 * time.Second); !step.at(creates, myOrders); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: never reached: %v", step.name, waitJob(t, leader.base, id))
			}
			if i > 0 && time.Since(asked) > 500*time.Millisecond { // a drifted price asks for confirmation
				asked = time.Now()
				h.confirmIfAsked(leader, id)
			}
		}
		if err := leader.p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		h.nodes = slices.DeleteFunc(h.nodes, func(n *haNode) bool { return n == leader })
		job := h.waitRent(follower, id)
		if job["state"] != commands.JobSucceeded {
			t.Fatalf("%s: the rent ended %v", step.name, job)
		}
		if got := count("create_order"); got != creates+1 {
			t.Fatalf("%s: %d create_orders for one rent", step.name, got-creates)
		}
		t.Logf("kill -9 at %q: %s finished the rent %s after, one order", step.name, follower.name, time.Since(killed).Round(time.Millisecond))
		h.start(string(next))
		next++
	}
	h.limits()
}
