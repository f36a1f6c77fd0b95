package commands_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
)

func TestRentStatusCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	ctx := context.Background()

	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 2"))
	if r.Status != commands.StatusQueued || r.JobID == "" {
		t.Fatalf("rent reply = %+v", r)
	}
	job, err := svc.RunJob(ctx, r.JobID)
	if err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("job = %+v, %v", job, err)
	}
	progress := h.replies.all()
	last := progress[len(progress)-1]
	if last.Private == nil || !strings.Contains(last.PlainText(true), "ssh -p ") || !strings.Contains(last.PlainText(true), "Password") {
		t.Fatalf("no private connection details in %+v", last)
	}
	if strings.Contains(last.Public().PlainText(true), "Password") || strings.Contains(last.Text, "ssh -p") {
		t.Errorf("connection details leak into the public part: %q", last.Public().PlainText(true))
	}
	orders := h.cloreOrders(t)
	if len(orders) != 1 {
		t.Fatalf("%d orders at Clore, want 1", len(orders))
	}
	id := orders[0].ID

	st := svc.Handle(ctx, req("slack:ALICE", "status"))
	if st.Status != commands.StatusOK || len(st.Fields) != 1 || !strings.Contains(st.Fields[0].Value, "running") ||
		!strings.Contains(st.Fields[0].Name, fmt.Sprint(id)) || !strings.Contains(st.Fields[0].Value, "left") {
		t.Fatalf("status = %+v", st)
	}
	if other := svc.Handle(ctx, req("slack:BOB", "status")); len(other.Fields) != 0 {
		t.Errorf("bob sees alice's orders: %+v", other)
	}
	if denied := svc.Handle(ctx, req("slack:BOB", fmt.Sprintf("cancel %d", id))); denied.Status != commands.StatusDenied {
		t.Errorf("bob cancelling alice's order: %+v", denied)
	}
	c := svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("cancel %d", id)))
	if c.Status != commands.StatusQueued {
		t.Fatalf("cancel = %+v", c)
	}
	if job, err := svc.RunJob(ctx, c.JobID); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("cancel job = %+v, %v", job, err)
	}
	if active, _ := h.client.MyOrders(ctx, false); len(active) != 0 {
		t.Errorf("order still active at Clore: %+v", active)
	}
	o, err := h.store.GetOrderByCloreID(ctx, id)
	if err != nil || o.State != commands.OrderCancelled {
		t.Errorf("local order = %+v, %v", o, err)
	}
	events, _ := h.store.ListEvents(ctx, 0, 100)
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
		if strings.Contains(string(e.Data), "assword") {
			t.Errorf("event %s carries a password: %s", e.Type, e.Data)
		}
	}
	want := "order.created order.running job.completed order.cancelled job.completed"
	if strings.Join(types, " ") != want {
		t.Errorf("events = %v, want %s", types, want)
	}
	audit, _ := h.store.ListAudit(ctx, commands.AuditFilter{})
	if len(audit) < 5 {
		t.Errorf("audit rows = %d", len(audit))
	}
}

// kill -9 after each checkpoint, then restart: the dead run's lease lapses
// within DefaultLease (nothing renews it), the restarted process's first
// sweep resumes the job, and there is exactly one order.
func TestRentResumesAfterCrash(t *testing.T) {
	t.Parallel()
	if commands.DefaultLease+commands.DefaultSweepInterval > 10*time.Second {
		t.Fatalf("lease %s + sweep %s: a crashed job would not resume within 10 s", commands.DefaultLease, commands.DefaultSweepInterval)
	}
	steps := []string{"creating", "sent", "created", "provisioning"}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			ctx, crash := context.WithCancel(context.Background())
			defer crash()
			first := h.service(func(o *commands.Options) {
				o.WorkerID = "worker-1"
				if step == "sent" {
					// The process dies while create_order is on the wire.
					o.Clore = crashAfterCreate{Clore: h.client, crash: crash}
					return
				}
				o.AfterCheckpoint = func(j commands.Job) error {
					if j.Step == step {
						return errors.New("simulated kill -9")
					}
					return nil
				}
			})
			r := first.Handle(context.Background(), req("slack:ALICE", "rent 3090"))
			if r.JobID == "" {
				t.Fatalf("rent = %+v", r)
			}
			job, err := first.RunJob(ctx, r.JobID)
			if err == nil || job.State == commands.JobSucceeded {
				t.Fatalf("first run = %+v, %v; want a crash", job, err)
			}
			killedAt := time.Now()
			if step != "sent" {
				// Killed: the lease stays until it lapses, and no longer.
				if resumable(t, h, killedAt, r.JobID) {
					t.Fatal("a killed run's lease was free at once; its heartbeat should have held it until it lapsed")
				}
			}
			if !resumable(t, h, killedAt.Add(commands.DefaultLease), r.JobID) {
				t.Fatalf("the killed run's lease had not lapsed after %s", commands.DefaultLease)
			}
			// The restarted process, DefaultLease later: its first sweep resumes the job.
			second := h.service(func(o *commands.Options) {
				o.WorkerID = "worker-2"
				o.Clock = offsetClock{commands.DefaultLease}
			})
			runCtx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); runWithSweep(runCtx, second, commands.DefaultSweepInterval) }()
			defer func() { stop(); <-done }()
			waitFor(t, 30*time.Second, func() bool {
				j, _ := second.Job(context.Background(), r.JobID)
				return commands.Terminal(j.State)
			})
			if job, _ := second.Job(context.Background(), r.JobID); job.State != commands.JobSucceeded {
				t.Fatalf("resumed job = %+v", job)
			}
			if orders := h.cloreOrders(t); len(orders) != 1 {
				t.Fatalf("%d orders at Clore, want exactly 1: %+v", len(orders), orders)
			}
			if local, _ := h.store.ListOrders(context.Background(), commands.OrderFilter{}); len(local) != 1 || local[0].State != commands.OrderRunning {
				t.Fatalf("local orders = %+v", local)
			}
		})
	}
}

// resumable reports whether a sweep at now would resume the job.
func resumable(t *testing.T, h *harness, now time.Time, id string) bool {
	t.Helper()
	jobs, err := h.store.ResumableJobs(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(jobs, func(j commands.Job) bool { return j.ID == id })
}

// crashAfterCreate sends create_order, then "dies" before recording it.
type crashAfterCreate struct {
	commands.Clore
	crash context.CancelFunc
}

func (c crashAfterCreate) CreateOrder(ctx context.Context, r clore.CreateOrderRequest) error {
	if err := c.Clore.CreateOrder(context.WithoutCancel(ctx), r); err != nil {
		return err
	}
	c.crash()
	return ctx.Err()
}

// 50 concurrent deliveries of one request: one job, one order.
func TestOneIdempotencyKeyOneOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	r0 := req("slack:ALICE", "rent 3090")
	var wg sync.WaitGroup
	jobs := make(chan string, 50)
	for range 50 {
		wg.Go(func() {
			r := svc.Handle(context.Background(), r0)
			jobs <- r.JobID
			if r.JobID != "" {
				_, _ = svc.RunJob(context.Background(), r.JobID)
			}
		})
	}
	wg.Wait()
	close(jobs)
	ids := map[string]bool{}
	for id := range jobs {
		ids[id] = true
	}
	if len(ids) != 1 || ids[""] {
		t.Fatalf("job ids = %v, want one", ids)
	}
	for id := range ids {
		if job, err := svc.RunJob(context.Background(), id); err != nil || job.State != commands.JobSucceeded {
			t.Fatalf("job = %+v, %v", job, err)
		}
	}
	if orders := h.cloreOrders(t); len(orders) != 1 {
		t.Fatalf("%d orders at Clore, want 1", len(orders))
	}
}

// Fail over to the next offer when the chosen server is taken meanwhile.
func TestRentFailsOverWhenServerTaken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	taken := int64(0)
	svc := h.service(func(o *commands.Options) {
		o.Clore = takeFirst{Clore: h.client, taken: &taken}
	})
	r := svc.Handle(context.Background(), req("slack:ALICE", "rent 3090"))
	job, err := svc.RunJob(context.Background(), r.JobID)
	if err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("job = %+v, %v", job, err)
	}
	orders := h.cloreOrders(t)
	if len(orders) != 1 || orders[0].ServerID == taken {
		t.Fatalf("orders = %+v (taken server %d)", orders, taken)
	}
}

// takeFirst answers the first create_order as Clore does when someone else
// rented the server a moment earlier.
type takeFirst struct {
	commands.Clore
	taken *int64
}

func (c takeFirst) CreateOrder(ctx context.Context, r clore.CreateOrderRequest) error {
	if *c.taken == 0 {
		*c.taken = r.RentingServer
		return &clore.APIError{Endpoint: "create_order", HTTPStatus: 200, Code: 6, Message: "server-already-rented"}
	}
	return c.Clore.CreateOrder(ctx, r)
}

// An order that does not come online in time is cancelled and reported.
func TestRentCancelsWhenNotOnlineInTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *sandbox.Options) { o.ProvisionDelay = time.Hour })
	svc := h.service(func(o *commands.Options) { o.ProvisionTimeout = 300 * time.Millisecond })
	r := svc.Handle(context.Background(), req("slack:ALICE", "rent 3090"))
	job, err := svc.RunJob(context.Background(), r.JobID)
	if err != nil || job.State != commands.JobFailed || !strings.Contains(job.Error, "not online") {
		t.Fatalf("job = %+v, %v", job, err)
	}
	if active, _ := h.client.MyOrders(context.Background(), false); len(active) != 0 {
		t.Fatalf("order left running: %+v", active)
	}
	local, _ := h.store.ListOrders(context.Background(), commands.OrderFilter{})
	if len(local) != 1 || local[0].State != commands.OrderFailed {
		t.Fatalf("local = %+v", local)
	}
	last := h.replies.all()
	if final := last[len(last)-1]; final.Status != commands.StatusFailed || !final.Done {
		t.Fatalf("final reply = %+v", final)
	}
}

// A rent interrupted before create_order (clorebot exec and Ctrl-C) is
// abandoned: nothing is rented, and a later worker does not rent it either.
func TestAbandonJobBeforeAnOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	ctx := context.Background()
	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090"))
	if r.Status != commands.StatusQueued {
		t.Fatalf("rent: %+v", r)
	}
	if _, err := svc.AbandonJob(ctx, r.JobID, "slack:BOB"); err == nil {
		t.Fatal("someone else abandoned alice's rent")
	}
	v, err := svc.AbandonJob(ctx, r.JobID, "slack:ALICE")
	if err != nil || v.State != commands.JobCancelled || v.OrderMayExist {
		t.Fatalf("abandon: %+v %v", v, err)
	}
	job, err := svc.RunJob(ctx, r.JobID)
	if err != nil || job.State != commands.JobCancelled {
		t.Fatalf("run after abandon: %+v %v", job, err)
	}
	if n := len(h.cloreOrders(t)); n != 0 {
		t.Fatalf("%d orders at Clore after an abandoned rent", n)
	}
}
