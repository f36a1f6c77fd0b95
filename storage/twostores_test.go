package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// Two Stores on one database stand for two clorebot processes: on
// PostgreSQL (CLOREBOT_TEST_POSTGRES_URL) they are two connection pools
// whose write transactions only the database-wide write lock serializes; on
// SQLite two pools on one file.

// twoStores opens a migrated store and a second one on the same database.
func twoStores(t *testing.T) [2]*Store {
	t.Helper()
	a := openStore(t, migratedDBPath(t))
	if _, err := a.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := openStore(t, a.path)
	return [2]*Store{a, b}
}

func TestTwoStoresCreateOneJobPerKey(t *testing.T) {
	stores := twoStores(t)
	ctx := context.Background()
	const calls, keys = 50, 10
	ids := make([]string, calls)
	created := make([]bool, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			j := commands.Job{Kind: commands.JobRent, IdempotencyKey: fmt.Sprint("key-", i%keys),
				State: commands.JobQueued, RequestedBy: "slack:U1"}
			got, c, err := stores[i%2].CreateJob(ctx, j)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i], created[i] = got.ID, c
		})
	}
	wg.Wait()
	n := 0
	for i := range calls {
		if created[i] {
			n++
		}
		if ids[i] != ids[i%keys] {
			t.Errorf("call %d got job %s, call %d got %s for the same key", i, ids[i], i%keys, ids[i%keys])
		}
	}
	if n != keys {
		t.Errorf("%d calls created a job, want %d", n, keys)
	}
}

// A guardrail's count and the insert it admits are one transaction on
// either Store: concurrent rents over both never exceed the cap.
func TestTwoStoresGuardrailHolds(t *testing.T) {
	stores := twoStores(t)
	ctx := context.Background()
	const calls, limit = 40, 5
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
	)
	refused := errors.New("over the cap")
	for i := range calls {
		wg.Go(func() {
			g := &commands.Guard{Who: "slack:U1", Since: time.Now().Add(-time.Hour), Check: func(u commands.GuardUsage) error {
				// Between the count and the insert: without the write
				// lock the other Store would count meanwhile too.
				time.Sleep(2 * time.Millisecond)
				if u.ActiveOrders >= limit {
					return refused
				}
				return nil
			}}
			j := commands.Job{Kind: commands.JobRent, IdempotencyKey: fmt.Sprint("rent-", i),
				State: commands.JobQueued, RequestedBy: "slack:U1", USDPerHour: 1}
			_, c, err := stores[i%2].CreateJobGuarded(ctx, j, g)
			if err != nil && !errors.Is(err, refused) {
				t.Error(err)
			}
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if created != limit {
		t.Errorf("%d rents admitted, want the cap %d", created, limit)
	}
}

// Rate slots reserved from both Stores at once keep every lane's spacing.
func TestTwoStoresRateSlotsKeepTheirSpacing(t *testing.T) {
	stores := twoStores(t)
	ctx := context.Background()
	const calls = 30
	lanes := map[string]time.Duration{"any": time.Second, "create": 5 * time.Second}
	now := time.Now()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		slots []time.Time
	)
	for i := range calls {
		wg.Go(func() {
			use := map[string]time.Duration{"any": lanes["any"]}
			if i%3 == 0 {
				use = lanes
			}
			at, err := stores[i%2].ReserveSlot(ctx, "k", now, use)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			slots = append(slots, at)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(slots); i++ {
		if d := slots[i].Sub(slots[i-1]); d < time.Second {
			t.Fatalf("slots %d and %d are %s apart, want at least 1s", i-1, i, d)
		}
	}
}

// Workers on both Stores claiming one job: one lease.
func TestTwoStoresLeaseOnce(t *testing.T) {
	stores := twoStores(t)
	ctx := context.Background()
	j, _, err := stores[0].CreateJob(ctx, commands.Job{Kind: commands.JobRent, IdempotencyKey: "k", State: commands.JobQueued})
	if err != nil {
		t.Fatal(err)
	}
	const workers = 20
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won []string
	)
	now := time.Now()
	for i := range workers {
		wg.Go(func() {
			owner := fmt.Sprint("worker-", i)
			_, err := stores[i%2].ClaimJob(ctx, j.ID, owner, now, now.Add(time.Minute))
			switch {
			case err == nil:
				mu.Lock()
				won = append(won, owner)
				mu.Unlock()
			case !errors.Is(err, ErrLeased):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 {
		t.Errorf("leased to %v, want one worker", won)
	}
}

// Signed deliveries of 10 messages, 5 deliveries each, spread over two
// Stores' intake writers: one job and one recorded answer per message, and
// every delivery after the first gets that answer (or is told it is in
// flight), never a job of its own.
func TestTwoStoresIntakeOneJobPerMessage(t *testing.T) {
	stores := twoStores(t)
	ctx := context.Background()
	const messages, deliveries = 10, 5
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created = map[string]int{}
	)
	for i := range messages * deliveries {
		wg.Go(func() {
			id := fmt.Sprint("msg_", i%messages)
			res, err := stores[i%2].Intake(ctx, unit(id, nil))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if res.Created {
				created[id]++
			}
		})
	}
	wg.Wait()
	for i := range messages {
		if id := fmt.Sprint("msg_", i); created[id] != 1 {
			t.Errorf("%s created %d jobs, want 1", id, created[id])
		}
	}
	var jobs, records int
	if err := stores[0].read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM webhook_requests)`).Scan(&jobs, &records); err != nil {
		t.Fatal(err)
	}
	if jobs != messages || records != messages {
		t.Errorf("%d jobs and %d dedup records, want %d each", jobs, records, messages)
	}
}
