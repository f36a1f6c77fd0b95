package commands_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// Issue 20: many rents of one model at once.

// aimed records, per server, the create_orders sent to it, and the
// wallets calls.
type aimed struct {
	commands.Clore
	mu      sync.Mutex
	servers map[int64]int
	rented  int // server-already-rented answers
	wallets atomic.Int64
}

func (a *aimed) CreateOrder(ctx context.Context, r clore.CreateOrderRequest) error {
	err := a.Clore.CreateOrder(ctx, r)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.servers == nil {
		a.servers = map[int64]int{}
	}
	a.servers[r.RentingServer]++
	if errors.Is(err, clore.ErrServerAlreadyRented) {
		a.rented++
	}
	return err
}

func (a *aimed) Wallets(ctx context.Context) ([]clore.Wallet, error) {
	a.wallets.Add(1)
	return a.Clore.Wallets(ctx)
}

// runConcurrently queues n rents of one model, spread over the services in
// turn, all at once, checks that each was quoted a server of its own (the
// quote is made in the transaction that stores the job, from what every
// process's rents were quoted), and runs every job concurrently to its end.
func runConcurrently(t *testing.T, svcs []*commands.Service, n int, text string) []commands.Job {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	var intake sync.WaitGroup
	for i := range n {
		intake.Go(func() {
			r := svcs[i%len(svcs)].Handle(ctx, commands.Request{Platform: commands.PlatformSlack, User: "slack:ALICE",
				Channel: "C1", Text: text, IdempotencyKey: fmt.Sprint("many-", i)})
			if r.JobID == "" || r.Status != commands.StatusQueued {
				t.Errorf("rent %d: %+v", i, r)
			}
			ids[i] = r.JobID
		})
	}
	intake.Wait()
	if t.Failed() {
		t.FailNow()
	}
	quoted := map[int64]string{}
	for i, id := range ids {
		j, err := svcs[i%len(svcs)].Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		prefer := preferOf(t, j)
		if other, ok := quoted[prefer]; ok {
			t.Errorf("jobs %s and %s were both quoted server %d", other, id, prefer)
		}
		quoted[prefer] = id
	}
	jobs := make([]commands.Job, n)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			j, err := svcs[i%len(svcs)].RunJob(ctx, id)
			if err != nil {
				t.Errorf("job %s: %v", id, err)
			}
			jobs[i] = j
		})
	}
	wg.Wait()
	return jobs
}

// Ten rents of one model at once used to pick the same cheapest server:
// one won, nine met server-already-rented and failed over to the next
// cheapest, together. Each now holds the server it chose until its
// create_order answers, and the k-th is quoted the k-th offer: one
// create_order per order, every one on its own server, wallets read once.
func TestConcurrentRentsAimAtDifferentServers(t *testing.T) {
	t.Parallel()
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprint(procs, " process(es)"), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, fullMarket) // enough offers of one model near the cheapest, below confirm_above
			h.policy.MaxActiveOrders, h.policy.MaxTeamActiveOrders, h.policy.MaxOrdersPerHour = 0, 0, 0
			a := &aimed{Clore: h.client}
			var svcs []*commands.Service
			for i := range procs {
				st := h.store
				if i > 0 { // another process: its own connections to the database
					var err error
					st, err = storage.OpenAndMigrate(context.Background(), storagetest.At(t, filepath.Join(h.dir, "clorebot.db")))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { st.Close() })
				}
				svcs = append(svcs, h.service(func(o *commands.Options) { o.Clore, o.Store = a, st }))
			}
			a.wallets.Store(0)
			jobs := runConcurrently(t, svcs, 6, "rent 3090 --hours 1")
			for _, j := range jobs {
				if j.State != commands.JobSucceeded {
					t.Errorf("job %s %s: %s", j.ID, j.State, j.Error)
				}
			}
			for server, n := range a.servers {
				if n > 1 {
					t.Errorf("%d create_orders aimed at server %d", n, server)
				}
			}
			if a.rented != 0 {
				t.Errorf("%d server-already-rented answers", a.rented)
			}
			if n := a.wallets.Load(); n > int64(procs) {
				t.Errorf("%d wallets calls for 6 rents in %d process(es)", n, procs)
			}
		})
	}
}

// A held server is free again once its job's create_order answered, the
// job failed, or its process died between the choice and create_order (the
// hold lapses with the lease): other rents may choose it.
func TestHeldServerIsReleased(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	held := func(t *testing.T, h *harness, at time.Time) []int64 {
		t.Helper()
		claims, err := h.store.ServerClaims(ctx, "another-job", at, at)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, c := range claims {
			if !c.Taken {
				out = append(out, c.ServerID)
			}
		}
		return out
	}
	t.Run("killed between the choice and create_order", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, smallMarket)
		crash := errors.New("kill -9")
		svc := h.service(func(o *commands.Options) {
			o.Lease = 400 * time.Millisecond
			o.AfterCheckpoint = func(j commands.Job) error {
				if j.Step == "creating" {
					return crash
				}
				return nil
			}
		})
		r := svc.Handle(ctx, req("slack:ALICE", "rent 3090"))
		if _, err := svc.RunJob(ctx, r.JobID); !errors.Is(err, crash) {
			t.Fatalf("run = %v, want the crash", err)
		}
		if got := held(t, h, time.Now()); len(got) != 1 {
			t.Fatalf("held while the dead run's lease lasts: %v, want its server", got)
		}
		if got := held(t, h, time.Now().Add(time.Second)); len(got) != 0 {
			t.Fatalf("held after the lease lapsed: %v", got)
		}
		// Resumed, the job holds its server again and rents it once.
		resumed := h.service(func(o *commands.Options) { o.Lease = 400 * time.Millisecond })
		time.Sleep(500 * time.Millisecond)
		if j, err := resumed.RunJob(ctx, r.JobID); err != nil || j.State != commands.JobSucceeded {
			t.Fatalf("resumed job %+v, %v", j, err)
		}
		if n := len(h.cloreOrders(t)); n != 1 {
			t.Fatalf("%d orders", n)
		}
	})
	t.Run("the job failed at create_order", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, smallMarket)
		svc := h.service(func(o *commands.Options) { o.Clore = poorWallet{h.client} })
		r := svc.Handle(ctx, req("slack:ALICE", "rent 3090"))
		if j, err := svc.RunJob(ctx, r.JobID); err != nil || j.State != commands.JobFailed {
			t.Fatalf("job %+v, %v", j, err)
		}
		if got := held(t, h, time.Now()); len(got) != 0 {
			t.Fatalf("held after the job failed: %v", got)
		}
	})
	t.Run("create_order answered", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, smallMarket)
		svc := h.service()
		id := rentRunning(t, svc, "rent 3090")
		if got := held(t, h, time.Now()); len(got) != 0 {
			t.Fatalf("held after the order: %v", got)
		}
		claims, _ := h.store.ServerClaims(ctx, "another-job", time.Now().Add(-time.Minute), time.Now())
		if len(claims) != 1 || !claims[0].Taken || !claims[0].Ours {
			t.Fatalf("claims after order %d: %+v, want its server taken by us", id, claims)
		}
	})
}

// poorWallet answers create_order not_enough_balance.
type poorWallet struct{ commands.Clore }

func (poorWallet) CreateOrder(context.Context, clore.CreateOrderRequest) error {
	return &clore.APIError{Endpoint: "create_order", HTTPStatus: 200, Code: clore.CodeSeeError, Message: "not_enough_balance"}
}

// staleQuotes is a store whose look at the quotes before intake misses
// every commit: what another process committed between that look and the
// intake's write.
type staleQuotes struct{ *storage.Store }

func (staleQuotes) SpokenServers(context.Context, []int64, time.Time) (map[int64]bool, error) {
	return nil, nil
}

// A quote made from a look that missed another rent's commit is made again
// in the intake transaction: the second rent is quoted the next server,
// and its answer shows that server's price.
func TestIntakeRequotesAServerSpokenForSinceItsLook(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.MaxActiveOrders, h.policy.MaxTeamActiveOrders, h.policy.MaxOrdersPerHour = 0, 0, 0
	ctx := context.Background()
	prefer := func(id string) int64 { return quotedServer(t, h.store, id) }
	first := h.service().Handle(ctx, commands.Request{Platform: commands.PlatformSlack, User: "slack:ALICE",
		Channel: "C1", Text: "rent 3090 --hours 1", IdempotencyKey: "requote-1"})
	if first.Status != commands.StatusQueued {
		t.Fatalf("first rent: %+v", first)
	}
	stale := h.service(func(o *commands.Options) { o.Store = staleQuotes{h.store} })
	second := stale.Handle(ctx, commands.Request{Platform: commands.PlatformSlack, User: "slack:ALICE",
		Channel: "C1", Text: "rent 3090 --hours 1", IdempotencyKey: "requote-2"})
	if second.Status != commands.StatusQueued && second.Status != commands.StatusConfirm {
		t.Fatalf("second rent: %+v", second)
	}
	if a, b := prefer(first.JobID), prefer(second.JobID); a == b {
		t.Fatalf("both rents were quoted server %d", a)
	}
}
