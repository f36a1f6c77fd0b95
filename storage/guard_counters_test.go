package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"

	"github.com/clorebot/clorebot/storage/storagetest"
)

// oldUsageSQL is how the guardrails were counted before migration 0020,
// from the rows themselves: the oracle the counters are checked against.
// %s is "" for the team totals, or a condition that keeps the requester's
// rows only. Parameters: 1 excluded job id, 2 requester, 3 start of the
// orders-per-hour window.
const oldUsageSQL = `SELECT
		i.mine + l.mine, i.n + l.n, h.n, i.usd + l.usd
	FROM (SELECT count(*) AS n, count(*) FILTER (WHERE requested_by = ?2) AS mine,
			coalesce(sum(usd_per_hour), 0) AS usd
		FROM jobs INDEXED BY jobs_in_flight_idx
		WHERE kind = 'rent' AND state IN ('queued', 'running') AND id <> ?1 %[1]s) AS i,
	(SELECT count(*) AS n, count(*) FILTER (WHERE requested_by = ?2) AS mine,
			coalesce(sum(usd_per_hour), 0) AS usd
		FROM orders o
		WHERE state IN ('creating', 'provisioning', 'running', 'cancelling') %[1]s
		AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = o.job_id AND j.kind = 'rent'
			AND j.state IN ('queued', 'running') AND j.id <> ?1)) AS l,
	(SELECT count(*) AS n FROM jobs INDEXED BY jobs_rent_created_idx
		WHERE kind = 'rent' AND requested_by = ?2 AND created_at >= ?3
		AND state NOT IN ('awaiting_confirmation', 'cancelled') AND id <> ?1) AS h`

// oldUsage counts g's usage the way the store did before the counters.
func oldUsage(t *testing.T, s *Store, g commands.Guard) commands.GuardUsage {
	t.Helper()
	form := "AND requested_by = ?2"
	if g.Team {
		form = ""
	}
	var u commands.GuardUsage
	err := oldUsageStmt(t, s, form).QueryRowContext(context.Background(), g.Exclude, g.Who, formatTime(g.Since)).
		Scan(&u.ActiveOrders, &u.TeamActiveOrders, &u.OrdersLastHour, &u.TeamUSDPerHour)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Team {
		u.TeamActiveOrders, u.TeamUSDPerHour = 0, 0
	}
	return u
}

// oldUsageStmts holds oldUsageSQL prepared on a store's readers, by store
// and form: the walks count thousands of times, and under -race SQLite
// parsing the statement again each time was most of their CPU.
var oldUsageStmts sync.Map // oldUsageKey → *sql.Stmt

type oldUsageKey struct {
	s    *Store
	form string
}

func oldUsageStmt(t *testing.T, s *Store, form string) *sql.Stmt {
	t.Helper()
	k := oldUsageKey{s, form}
	if st, ok := oldUsageStmts.Load(k); ok {
		return st.(*sql.Stmt)
	}
	st, err := s.read.PrepareContext(context.Background(), fmt.Sprintf(oldUsageSQL, form))
	if err != nil {
		t.Fatal(err)
	}
	if prev, loaded := oldUsageStmts.LoadOrStore(k, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	t.Cleanup(func() { oldUsageStmts.Delete(k); st.Close() })
	return st
}

// newUsage is what GuardUsage counts for g.
func newUsage(t *testing.T, s *Store, g commands.Guard) commands.GuardUsage {
	t.Helper()
	got, err := s.GuardUsage(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// sameUsage compares the counted usage with the oracle's: the counts
// exactly, the spend within the nano-dollar rounding of each row it sums
// (and a few float64 roundings of the oracle's own sum).
func sameUsage(got, want commands.GuardUsage) bool {
	rows := float64(want.TeamActiveOrders + 2)
	tol := rows*0.5e-9 + 1e-12*(1+math.Abs(want.TeamUSDPerHour))
	diff := math.Abs(got.TeamUSDPerHour - want.TeamUSDPerHour)
	got.TeamUSDPerHour, want.TeamUSDPerHour = 0, 0
	return got == want && diff <= tol
}

// recountSQL counts from the rows what guard_usage and guard_accepted must
// hold (their rows at zero aside), as migration 0020's backfill does.
var recountSQL = []struct{ counters, rows string }{
	{`SELECT team, requested_by, active, usd_nano FROM guard_usage
		WHERE team = 1 OR active <> 0 OR usd_nano <> 0 ORDER BY 1, 2`,
		`WITH counted (requested_by, usd_nano) AS (
			SELECT requested_by, ` + usdNanoSQL + `
			FROM jobs WHERE kind = 'rent' AND state IN ('queued', 'running')
			UNION ALL
			SELECT requested_by, ` + usdNanoSQL + `
			FROM orders o WHERE state IN ('creating', 'provisioning', 'running', 'cancelling')
			AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = o.job_id AND j.kind = 'rent' AND j.state IN ('queued', 'running')))
		SELECT * FROM (
			SELECT 0, requested_by, count(*), sum(usd_nano) FROM counted GROUP BY requested_by
			UNION ALL SELECT 1, '', count(*), coalesce(sum(usd_nano), 0) FROM counted) AS recount
		WHERE 1 = 1 ORDER BY 1, 2`},
	{`SELECT requested_by, minute, jobs FROM guard_accepted WHERE jobs <> 0 ORDER BY 1, 2`,
		`SELECT requested_by, substr(created_at, 1, 16), count(*) FROM jobs
		WHERE kind = 'rent' AND state NOT IN ('awaiting_confirmation', 'cancelled')
		GROUP BY 1, 2 ORDER BY 1, 2`},
}

// checkCounters fails unless the counters hold exactly what the rows
// count (integers, money included).
func checkCounters(t *testing.T, s *Store, step string) {
	t.Helper()
	for _, q := range recountSQL {
		rows := q.rows
		if s.pg {
			rows = strings.ReplaceAll(rows, usdNanoSQL, `clorebot_usd_nano(usd_per_hour)`)
		}
		got, want := dumpRows(t, s, q.counters), dumpRows(t, s, rows)
		if !slices.Equal(got, want) {
			t.Fatalf("after %s: counters\n%v\nrecounted\n%v", step, got, want)
		}
	}
}

// dumpRows reads q's rows as strings.
func dumpRows(t *testing.T, s *Store, q string) []string {
	t.Helper()
	rows, err := s.read.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		v := make([]any, len(cols))
		p := make([]any, len(cols))
		for i := range v {
			p[i] = &v[i]
		}
		if err := rows.Scan(p...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%v", v))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// guardModel is what the random walk knows of the store.
type guardModel struct {
	t     *testing.T
	s     *Store
	clock *fakeClock
	r     *rand.Rand
	jobs  []commands.Job // as last read back
	order []int64        // order ids
	n     int            // for unique keys and ids
	// checked counts the guards compared inside their transaction.
	checked int
}

var (
	walkWho    = []string{"a", "b", "c", ""}
	walkUSD    = []float64{0, 0.1, 0.2, 0.3, 1.0 / 3, 0.55, 2.75 / 24 * 8, 12.5, 1e-10, 7.123456789123, 0.0000000015}
	walkStates = []string{commands.JobAwaitingConfirmation, commands.JobQueued, commands.JobRunning,
		commands.JobSucceeded, commands.JobFailed, commands.JobCancelled}
	walkOrderStates = []string{OrderCreating, OrderProvisioning, OrderRunning, OrderCancelling,
		OrderCancelled, OrderExpired, OrderFailed}
)

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }

// newJob is a random job; its creation time is around now (the hour
// window's edge included), or left to the store.
func (m *guardModel) newJob() commands.Job {
	m.n++
	kind := commands.JobRent
	if m.r.IntN(6) == 0 {
		kind = commands.JobCancel
	}
	j := commands.Job{Kind: kind, IdempotencyKey: fmt.Sprint("k", m.n), State: pick(m.r, walkStates),
		RequestedBy: pick(m.r, walkWho), USDPerHour: pick(m.r, walkUSD)}
	switch m.r.IntN(4) {
	case 0:
	case 1:
		j.CreatedAt = m.clock.Now().Add(-time.Hour).Truncate(time.Minute) // a minute's first instant
	default:
		j.CreatedAt = m.clock.Now().Add(-time.Duration(m.r.Int64N(int64(80 * time.Minute))))
	}
	return j
}

// since is a random start of the orders-per-hour window: an hour ago, a
// job's creation time exactly or a nanosecond either side, its minute's
// start, or far before or after every job.
func (m *guardModel) since() time.Time {
	now := m.clock.Now()
	switch m.r.IntN(6) {
	case 0:
		return now.Add(-time.Hour)
	case 1:
		return time.Time{}
	case 2:
		return now.Add(time.Hour)
	}
	if len(m.jobs) == 0 {
		return now.Add(-time.Hour)
	}
	c := pick(m.r, m.jobs).CreatedAt
	return pick(m.r, []time.Time{c, c.Add(time.Nanosecond), c.Add(-time.Nanosecond), c.Truncate(time.Minute)})
}

// guard is a random guard (its Check left unset).
func (m *guardModel) guard() commands.Guard {
	g := commands.Guard{Who: pick(m.r, append(walkWho, "nobody")), Since: m.since(), Team: m.r.IntN(3) > 0}
	if len(m.jobs) > 0 && m.r.IntN(3) > 0 {
		g.Exclude = pick(m.r, m.jobs).ID
	}
	return g
}

// compare checks the counters against the oracle for a few guards.
func (m *guardModel) compare(step string) {
	m.t.Helper()
	checkCounters(m.t, m.s, step)
	for range 4 {
		g := m.guard()
		if got, want := newUsage(m.t, m.s, g), oldUsage(m.t, m.s, g); !sameUsage(got, want) {
			m.t.Fatalf("after %s: usage for %+v = %+v, the rows count %+v", step, g, got, want)
		}
	}
}

// check is a guard's Check that compares what the store counted in its
// transaction, before writing, with the oracle's count of what is
// committed, then admits or refuses at random.
func (m *guardModel) check(g commands.Guard, step string) *commands.Guard {
	refuse := m.r.IntN(4) == 0
	g.Check = func(u commands.GuardUsage) error {
		m.checked++
		if want := oldUsage(m.t, m.s, g); !sameUsage(u, want) {
			m.t.Errorf("%s: usage in the transaction for %+v = %+v, the rows count %+v", step, g, u, want)
		}
		if refuse {
			return errRefused
		}
		return nil
	}
	return &g
}

var errRefused = errors.New("refused by the walk")

// reload reads every job back (none is left out of the walk).
func (m *guardModel) reload() {
	m.t.Helper()
	rows, err := m.s.read.QueryContext(context.Background(), `SELECT `+jobColumns+` FROM jobs ORDER BY rowid`)
	if err != nil {
		m.t.Fatal(err)
	}
	defer rows.Close()
	m.jobs = m.jobs[:0]
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			m.t.Fatal(err)
		}
		m.jobs = append(m.jobs, j)
	}
	if err := rows.Err(); err != nil {
		m.t.Fatal(err)
	}
}

func (m *guardModel) add(j commands.Job, created bool, err error) {
	m.t.Helper()
	if err != nil && !errors.Is(err, errRefused) {
		m.t.Fatal(err)
	}
	if created {
		m.jobs = append(m.jobs, j)
	}
}

// step runs one random operation and names it.
func (m *guardModel) step() string {
	ctx := context.Background()
	s, r, t := m.s, m.r, m.t
	switch op := r.IntN(14); op {
	case 0, 1:
		j, created, err := s.CreateJob(ctx, m.newJob())
		m.add(j, created, err)
		return "CreateJob"
	case 2:
		j := m.newJob()
		j, created, err := s.CreateJobGuarded(ctx, j, m.check(m.guard(), "CreateJobGuarded"))
		m.add(j, created, err)
		return "CreateJobGuarded"
	case 3:
		// A batch of the intake writer: its first attempt writes the
		// jobs with one multi-row INSERT; a duplicate key sends it the
		// careful way, a unit at a time.
		var units []commands.IntakeUnit
		for range 1 + r.IntN(4) {
			j := m.newJob()
			if len(m.jobs) > 0 && r.IntN(5) == 0 {
				j.IdempotencyKey = pick(r, m.jobs).IdempotencyKey
			}
			u := plainUnit(fmt.Sprint("m", m.n))
			u.Job = &j
			if r.IntN(3) == 0 {
				g := m.guard()
				g.Check = func(commands.GuardUsage) error { return nil }
				if r.IntN(3) == 0 {
					g.Check = func(commands.GuardUsage) error { return errRefused }
				}
				u.Guard = &g
			}
			units = append(units, u)
		}
		for _, c := range commitBatch(s, units...) {
			if c.err != nil && !errors.Is(c.err, ErrConflict) {
				t.Fatal(c.err)
			}
			m.add(c.res.Job, c.res.Created, nil)
		}
		return "Intake batch"
	case 4, 5:
		return m.save()
	case 6:
		var awaiting []commands.Job
		for _, j := range m.jobs {
			if j.State == commands.JobAwaitingConfirmation {
				awaiting = append(awaiting, j)
			}
		}
		if len(awaiting) == 0 {
			return "nothing"
		}
		j := pick(r, awaiting)
		g := m.guard()
		g.Exclude = pick(r, []string{"", j.ID})
		before := m.clock.Now().Add(-time.Duration(r.Int64N(int64(time.Hour))))
		if _, err := s.ConfirmJobGuarded(ctx, j.ID, m.check(g, "ConfirmJobGuarded"), before, nil); err != nil && !errors.Is(err, errRefused) {
			t.Fatal(err)
		}
		return "ConfirmJobGuarded"
	case 7:
		if _, err := s.ExpireJobs(ctx, m.clock.Now().Add(-time.Duration(r.Int64N(int64(90*time.Minute))))); err != nil {
			t.Fatal(err)
		}
		return "ExpireJobs"
	case 8:
		id := int64(1000 + m.n)
		m.n++
		o := &commands.Order{CloreOrderID: &id, ServerID: id, RequestedBy: pick(r, walkWho),
			USDPerHour: pick(r, walkUSD), State: pick(r, walkOrderStates)}
		if err := s.CreateOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
		m.order = append(m.order, o.ID)
		return "CreateOrder"
	case 9:
		if len(m.order) == 0 {
			return "nothing"
		}
		o, err := s.GetOrder(ctx, pick(r, m.order))
		if errors.Is(err, ErrNotFound) {
			return "nothing"
		} else if err != nil {
			t.Fatal(err)
		}
		want, end := o.State, o.ExpiresAt
		m.changeOrder(&o)
		if r.IntN(2) == 0 {
			err = s.UpdateOrder(ctx, o)
		} else {
			err = s.UpdateOrderIf(ctx, o, pick(r, []string{want, OrderRunning}), end)
		}
		if err != nil && !errors.Is(err, ErrConflict) {
			t.Fatal(err)
		}
		return "UpdateOrder"
	case 10:
		m.clock.Advance(time.Duration(r.Int64N(int64(10 * time.Minute))))
		return "clock"
	default:
		return m.byHand(op)
	}
}

// changeOrder changes o's state, requester or price at random.
func (m *guardModel) changeOrder(o *commands.Order) {
	switch m.r.IntN(3) {
	case 0:
		o.RequestedBy = pick(m.r, walkWho)
	case 1:
		o.USDPerHour = pick(m.r, walkUSD)
	}
	o.State = pick(m.r, walkOrderStates)
}

// save is a job's checkpoint through SaveJob: a new state, reservation,
// and an order inserted or updated, sometimes guarded.
func (m *guardModel) save() string {
	ctx := context.Background()
	if len(m.jobs) == 0 {
		return "nothing"
	}
	j := pick(m.r, m.jobs)
	if _, err := m.s.ClaimJob(ctx, j.ID, "w", m.clock.Now(), m.clock.Now().Add(time.Hour)); err != nil {
		m.t.Fatal(err)
	}
	u := &commands.JobUpdate{Job: j}
	u.Job.State = pick(m.r, walkStates[1:])
	if m.r.IntN(2) == 0 {
		u.Job.USDPerHour = pick(m.r, walkUSD)
	}
	orders, err := m.s.ListOrders(ctx, OrderFilter{})
	if err != nil {
		m.t.Fatal(err)
	}
	var mine []commands.Order
	for _, o := range orders {
		if o.JobID == j.ID {
			mine = append(mine, o)
		}
	}
	switch {
	case len(mine) > 0 && m.r.IntN(2) == 0:
		o := pick(m.r, mine)
		m.changeOrder(&o)
		u.Order = &o
	case m.r.IntN(2) == 0:
		id := int64(1000 + m.n)
		m.n++
		u.Order = &commands.Order{CloreOrderID: &id, ServerID: id, RequestedBy: pick(m.r, walkWho),
			USDPerHour: pick(m.r, walkUSD), State: pick(m.r, walkOrderStates)}
	}
	if m.r.IntN(3) == 0 {
		g := m.guard()
		g.Exclude = j.ID
		g.Check = func(commands.GuardUsage) error { return nil }
		if m.r.IntN(2) == 0 {
			g.Check = func(commands.GuardUsage) error { return errRefused }
		}
		u.Guard = &g
	}
	if err := m.s.SaveJob(ctx, "w", u); err != nil && !errors.Is(err, errRefused) {
		m.t.Fatal(err)
	} else if err == nil && u.Order != nil && !slices.Contains(m.order, u.Order.ID) {
		m.order = append(m.order, u.Order.ID)
	}
	return "SaveJob"
}

// byHand changes rows with SQL that no Store method runs (the triggers
// keep the counters whatever changes a row): a job deleted (its orders
// unlinked by the foreign key), an order deleted, a job's requester,
// kind or creation time changed, an order linked to another job, a job's
// id changed (refused by the foreign key when an order links to it).
func (m *guardModel) byHand(op int) string {
	ctx := context.Background()
	if len(m.jobs) == 0 || len(m.order) == 0 {
		return "nothing"
	}
	j, o := pick(m.r, m.jobs), pick(m.r, m.order)
	var q string
	var args []any
	switch op {
	case 11:
		q, args = `DELETE FROM jobs WHERE id = ?`, []any{j.ID}
		if m.r.IntN(2) == 0 {
			q, args = `DELETE FROM orders WHERE id = ?`, []any{o}
		}
	case 12:
		q, args = `UPDATE jobs SET requested_by = ?, kind = ?, created_at = ? WHERE id = ?`,
			[]any{pick(m.r, walkWho), pick(m.r, []string{commands.JobRent, commands.JobRent, commands.JobCancel}),
				formatTime(m.newJob().CreatedAt.Add(time.Minute)), j.ID}
	default:
		q, args = `UPDATE orders SET job_id = ? WHERE id = ?`, []any{j.ID, o}
		if m.r.IntN(2) == 0 {
			q, args = `UPDATE jobs SET id = ? WHERE id = ?`, []any{j.ID + "x", j.ID}
		}
	}
	if _, err := m.s.write.ExecContext(ctx, q, args...); err != nil && !strings.Contains(strings.ToUpper(err.Error()), "FOREIGN KEY") {
		m.t.Fatalf("%s: %v", q, err)
	}
	return q
}

// The counters follow every way a row changes: random operations through
// the Store (single and multi-row inserts, guarded or not, checkpoints
// with orders, confirmations, the expiry sweep, order updates) and by
// hand, and after each one they hold exactly what the rows count, and a
// guard reads from them what the counting SQL they replaced read from
// the rows (for random requesters, excluded jobs and windows whose start
// falls on, or a nanosecond either side of, a job's creation time).
func TestGuardCountersMatchTheRows(t *testing.T) {
	seeds, steps := uint64(3), 150
	if raceEnabled() {
		// The race detector slows SQLite down about 30 times, and the
		// walk runs on one goroutine: a shorter walk says as much.
		seeds, steps = 1, 100
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			s, clock := newStore(t)
			m := &guardModel{t: t, s: s, clock: clock, r: rand.New(rand.NewPCG(seed, 20))}
			m.compare("nothing")
			ran := map[string]int{}
			for i := range steps {
				step := m.step()
				ran[strings.Fields(step)[0]]++
				m.reload()
				m.compare(fmt.Sprint("step ", i, ": ", step))
			}
			for _, op := range []string{"CreateJob", "CreateJobGuarded", "Intake", "SaveJob", "ConfirmJobGuarded",
				"ExpireJobs", "CreateOrder", "UpdateOrder", "DELETE", "UPDATE"} {
				if ran[op] == 0 {
					t.Errorf("the walk never ran %s: %v", op, ran)
				}
			}
			if m.checked == 0 {
				t.Error("no guard was compared inside its transaction")
			}
			t.Logf("ran %v; %d jobs, %d orders; %d guards compared in their transaction", ran, len(m.jobs), len(m.order), m.checked)
		})
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

// Migration 0020 on a database with data: the counters it fills in hold
// what the rows count, every guard reads from them what the rows gave
// before, and they follow the rows written afterwards.
func TestMigration0020BackfillsGuardCounters(t *testing.T) {
	storagetest.Skip(t, "migrations before PostgreSQL's baseline (0026)")
	ctx := context.Background()
	path := tempDBPath(t)
	old := openStore(t, path)
	old.Now = newFakeClock(epoch).Now
	old.migrations = slices.DeleteFunc(old.migrations, func(m migration) bool { return m.version == 20 }) // later ones are what this code writes with
	if _, err := old.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := epoch.UTC()
	n := 0
	for _, kind := range []string{commands.JobRent, commands.JobCancel} {
		for _, st := range walkStates {
			for i, who := range walkWho {
				n++
				j := commands.Job{Kind: kind, IdempotencyKey: fmt.Sprint("k", n), State: st, RequestedBy: who,
					USDPerHour: walkUSD[n%len(walkUSD)], CreatedAt: t0.Add(-time.Duration(n*7+i) * time.Minute / 3)}
				j, _, err := old.CreateJob(ctx, j)
				if err != nil {
					t.Fatal(err)
				}
				if n%3 != 0 {
					continue
				}
				// An order the job created, in one of every state.
				if _, err := old.ClaimJob(ctx, j.ID, "w", t0, t0.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
				id := int64(n)
				o := &commands.Order{CloreOrderID: &id, ServerID: id, RequestedBy: walkWho[(i+1)%len(walkWho)],
					USDPerHour: walkUSD[(n+3)%len(walkUSD)], State: walkOrderStates[n%len(walkOrderStates)]}
				if err := old.SaveJob(ctx, "w", &commands.JobUpdate{Job: j, Order: o}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for i, st := range walkOrderStates {
		id := int64(1000 + i)
		if err := old.CreateOrder(ctx, &commands.Order{CloreOrderID: &id, ServerID: id, RequestedBy: walkWho[i%len(walkWho)],
			USDPerHour: walkUSD[i], State: st}); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, clock := newStoreAt(t, path)
	checkCounters(t, s, "migration 0020")
	m := &guardModel{t: t, s: s, clock: clock, r: rand.New(rand.NewPCG(20, 20)), n: 10_000}
	m.reload()
	for _, who := range append(walkWho, "nobody") {
		for _, ex := range append(m.jobs, commands.Job{}) {
			for _, since := range []time.Time{t0.Add(-time.Hour), ex.CreatedAt, ex.CreatedAt.Add(time.Nanosecond), time.Time{}} {
				g := commands.Guard{Who: who, Exclude: ex.ID, Since: since, Team: true}
				if got, want := newUsage(t, s, g), oldUsage(t, s, g); !sameUsage(got, want) {
					t.Fatalf("usage for %+v = %+v, the rows count %+v", g, got, want)
				}
			}
		}
	}
	for i := range 40 {
		step := m.step()
		m.reload()
		m.compare(fmt.Sprint("step ", i, " after the migration: ", step))
	}
}

// A rent job deleted while in flight stops counting, and the orders it
// covered (unlinked by the foreign key after its row is gone) count on
// their own again.
func TestGuardCountersJobDeletedWithItsOrder(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	j := createJob(t, s, commands.Job{Kind: commands.JobRent, IdempotencyKey: "k", State: commands.JobQueued, RequestedBy: "a", USDPerHour: 2})
	claimJob(t, s, j.ID, "w", clock.Now())
	j.State = commands.JobRunning
	id := int64(7)
	o := &commands.Order{CloreOrderID: &id, ServerID: 7, RequestedBy: "b", USDPerHour: 3, State: OrderRunning}
	if err := s.SaveJob(ctx, "w", &commands.JobUpdate{Job: j, Order: o}); err != nil {
		t.Fatal(err)
	}
	g := commands.Guard{Who: "b", Since: clock.Now().Add(-time.Hour), Team: true}
	if got, want := newUsage(t, s, g), (commands.GuardUsage{TeamActiveOrders: 1, TeamUSDPerHour: 2}); got != want {
		t.Fatalf("with the job in flight: %+v, want %+v", got, want)
	}
	if _, err := s.write.ExecContext(ctx, `DELETE FROM jobs WHERE id = ?`, j.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetOrder(ctx, o.ID); err != nil || got.JobID != "" {
		t.Fatalf("order after its job was deleted: %+v, %v", got, err)
	}
	if got, want := newUsage(t, s, g), (commands.GuardUsage{ActiveOrders: 1, TeamActiveOrders: 1, TeamUSDPerHour: 3}); got != want {
		t.Fatalf("after the job was deleted: %+v, want %+v", got, want)
	}
	checkCounters(t, s, "the job deleted")
}

// What keeps a check from reading more as rows pile up: usageSQL reads
// the counters by their keys, the window's first minute through
// jobs_rent_created_idx between both its ends, and the excluded job and
// its orders by id; the triggers' look-ups (the same WHERE clauses) go
// through the orders' job_id index and the jobs' primary key. SQLite
// plans a statement inside a trigger as it plans it alone.
func TestGuardUsageQueryPlans(t *testing.T) {
	s, _ := newStore(t)
	since := formatTime(epoch)
	minute, end := windowMinute(since)
	p := queryPlan(t, s, usageSQL, "x", "a", since, minute, end)
	for _, want := range []string{
		"SEARCH guard_usage USING PRIMARY KEY (team=? AND requested_by=?)",
		"SEARCH guard_accepted USING PRIMARY KEY (requested_by=? AND minute>?)",
		"SEARCH jobs USING INDEX jobs_rent_created_idx (requested_by=? AND created_at>? AND created_at<?)",
		"SEARCH orders USING INDEX orders_job_id_idx (job_id=?)",
	} {
		if !strings.Contains(p, want) {
			t.Errorf("usage plan lacks %q: %s", want, p)
		}
	}
	for _, step := range strings.Split(p, "; ") {
		if strings.HasPrefix(step, "SCAN ") && step != "SCAN x" && step != "SCAN xo" {
			t.Errorf("usage plan scans a table: %q in %s", step, p)
		}
	}
	for q, want := range map[string]string{
		`SELECT requested_by FROM orders WHERE job_id = ? AND state IN ('creating', 'provisioning', 'running', 'cancelling')`: "SEARCH orders USING INDEX orders_job_id_idx (job_id=?)",
		`SELECT 1 FROM jobs WHERE id = ? AND kind = 'rent' AND state IN ('queued', 'running')`:                                "SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",
	} {
		if p := queryPlan(t, s, q, "x"); p != want {
			t.Errorf("trigger look-up %s: plan %s, want %s", q, p, want)
		}
	}
	for _, check := range []struct{ since, minute, end string }{
		{"2025-03-14T14:09:26.535897932Z", "2025-03-14T14:09", "2025-03-14T14:0:"},
		{"2025-03-14T14:00:00.000000000Z", "2025-03-14T14:00", "2025-03-14T14:01"},
	} {
		if m, e := windowMinute(check.since); m != check.minute || e != check.end {
			t.Errorf("windowMinute(%s) = %s, %s; want %s, %s", check.since, m, e, check.minute, check.end)
		}
	}
}
