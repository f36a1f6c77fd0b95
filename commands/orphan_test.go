package commands_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// ordersOutage is Clore whose my_orders fails (a transport error, as in a
// Clore API outage or my_orders timing out on a large account) while down
// reports true; calls counts the failed calls.
type ordersOutage struct {
	commands.Clore
	created atomic.Bool
	stop    atomic.Bool // the outage is over
	down    func(o *ordersOutage) bool
	calls   atomic.Int64
}

func (c *ordersOutage) CreateOrder(ctx context.Context, r clore.CreateOrderRequest) error {
	err := c.Clore.CreateOrder(ctx, r)
	if err == nil {
		c.created.Store(true)
	}
	return err
}

func (c *ordersOutage) MyOrders(ctx context.Context, all bool) ([]clore.Order, error) {
	if !c.stop.Load() && c.down(c) {
		c.calls.Add(1)
		return nil, fmt.Errorf("my_orders: %w", clore.ErrTransport)
	}
	return c.Clore.MyOrders(ctx, all)
}

// seedAttempts stands for the Clore failures a job met before: retryLater
// used to give up after 20 of them, counted over the whole job.
func seedAttempts(t *testing.T, h *harness, jobID string, n int) {
	t.Helper()
	storagetest.Skip(t, "seeds the SQLite file directly")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(h.dir, "clorebot.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE jobs SET attempts = ? WHERE id = ?`, n, jobID); err != nil {
		t.Fatal(err)
	}
}

// Review R4: a rent job that gave up on Clore ("Clore kept failing") after
// create_order succeeded failed with no order recorded (created) or left
// its order "provisioning": the order billed at Clore and nothing — TTL,
// tick, the renter's cancel — would ever end it. Once an order may exist,
// the job now keeps retrying through a long outage (here 60 failures on
// top of 20 earlier ones) and, once Clore answers, records the order and
// delivers it: the job succeeds with exactly one order, stored running.
func TestRentNeverGivesUpOnceAnOrderMayExist(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		down func(h *harness) func(*ordersOutage) bool
	}{
		{"my_orders fails while finding the created order", func(*harness) func(*ordersOutage) bool {
			return func(c *ordersOutage) bool { return c.created.Load() }
		}},
		{"my_orders fails while the adopted order provisions", func(h *harness) func(*ordersOutage) bool {
			return func(c *ordersOutage) bool {
				if !c.created.Load() {
					return false
				}
				os, _ := h.store.ListOrders(context.Background(), commands.OrderFilter{})
				return len(os) > 0
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			c := &ordersOutage{Clore: h.client}
			c.down = tc.down(h)
			svc := h.service(func(o *commands.Options) { o.Clore = c; o.RetryBackoff = time.Millisecond })
			ctx := context.Background()
			r := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
			if r.JobID == "" {
				t.Fatalf("rent = %+v", r)
			}
			seedAttempts(t, h, r.JobID, 20)
			done := make(chan commands.Job, 1)
			go func() {
				job, _ := svc.RunJob(ctx, r.JobID)
				done <- job
			}()
			deadline := time.Now().Add(20 * time.Second)
			for c.calls.Load() < 60 {
				select {
				case job := <-done:
					t.Fatalf("the job ended during the outage, after %d failed my_orders: %s %q", c.calls.Load(), job.State, job.Error)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("only %d failed my_orders in 20 s", c.calls.Load())
				}
				time.Sleep(5 * time.Millisecond)
			}
			c.stop.Store(true) // Clore answers again
			var job commands.Job
			select {
			case job = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the job did not finish once Clore answered")
			}
			active, err := h.client.MyOrders(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			local, _ := h.store.ListOrders(ctx, commands.OrderFilter{})
			if job.State != commands.JobSucceeded || len(active) != 1 || len(local) != 1 || local[0].State != commands.OrderRunning {
				t.Fatalf("job %s %q; %d active at Clore, stored %+v; want it succeeded with its one order running", job.State, job.Error, len(active), local)
			}
		})
	}
}

// Before an order can exist (choosing the offer), Clore failures in a row
// still end the job, with the reason.
func TestRentGivesUpOnCloreWhileChoosing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := &walletOutage{Clore: h.client}
	svc := h.service(func(o *commands.Options) { o.Clore = c; o.RetryBackoff = time.Millisecond })
	ctx := context.Background()
	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
	job, err := svc.RunJob(ctx, r.JobID)
	if err != nil || job.State != commands.JobFailed || !strings.HasPrefix(job.Error, "Clore kept failing: ") {
		t.Fatalf("job %s %q (%v); want it failed: Clore kept failing", job.State, job.Error, err)
	}
	if n := c.calls.Load(); n != 21 {
		t.Errorf("%d wallet calls, want 21 (20 retries)", n)
	}
}

// walletOutage is Clore whose wallets call always fails.
type walletOutage struct {
	commands.Clore
	calls atomic.Int64
}

func (c *walletOutage) Wallets(context.Context) ([]clore.Wallet, error) {
	c.calls.Add(1)
	return nil, fmt.Errorf("wallets: %w", clore.ErrTransport)
}
