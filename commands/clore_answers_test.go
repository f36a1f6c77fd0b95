package commands_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
)

// newAnswersHarness is newHarness with a small sandbox in this process, so that
// a test can queue Clore's answers (InjectNext) and count its requests.
func newAnswersHarness(t *testing.T) *harness {
	t.Helper()
	return newInProcessHarness(t, 400)
}

// newInProcessHarness is newHarness with a sandbox of servers servers
// serving from this process (the harness's sb), and no other.
func newInProcessHarness(t *testing.T, servers int) *harness {
	t.Helper()
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "clorebot.db"))
	sb, err := sandbox.New(sandbox.Options{StatePath: filepath.Join(dir, "sandbox.db"), APIKey: "k",
		Servers: servers, ProvisionDelay: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sb)
	t.Cleanup(func() { hs.Close(); sb.Close() })
	h := &harness{t: t, dir: dir, store: st, sb: sb, url: hs.URL + "/v1", policy: testPolicy(), replies: &recorder{}}
	h.client = clore.New(clore.Options{BaseURL: h.url, APIKey: "k", Interval: time.Millisecond, CreateInterval: time.Millisecond,
		MaxRetries: 2, Backoff: time.Millisecond, Slots: st})
	return h
}

// requests counts the sandbox's answered requests to endpoint.
func (h *harness) requests(endpoint string) int {
	n := 0
	for _, r := range h.sb.Requests() {
		if r.Endpoint == endpoint {
			n++
		}
	}
	return n
}

// A create_order answered with Clore's opaque code 1 (what a required_price
// that no longer matches gets) that created nothing: my_orders shows no
// order, so the job moves on to the next offer with a fresh marketplace and
// ends with exactly one order.
func TestRentMovesOnAfterCode1ThatCreatedNothing(t *testing.T) {
	t.Parallel()
	h := newAnswersHarness(t)
	h.sb.InjectNext("create_order", 500, `{"code":1}`)
	svc := h.service()
	r := svc.Handle(context.Background(), req("slack:ALICE", "rent 3090"))
	job, err := svc.RunJob(context.Background(), r.JobID)
	if err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("job = %+v, %v", job, err)
	}
	if n := h.requests("create_order"); n != 2 {
		t.Errorf("%d create_order calls, want 2 (code 1, then the next offer)", n)
	}
	if n := h.requests("marketplace"); n < 2 {
		t.Errorf("%d marketplace calls: the second offer was not chosen at fresh prices", n)
	}
	orders := h.cloreOrders(t)
	if len(orders) != 1 {
		t.Fatalf("%d orders at Clore, want 1: %+v", len(orders), orders)
	}
	local, _ := h.store.ListOrders(context.Background(), commands.OrderFilter{})
	if len(local) != 1 || *local[0].CloreOrderID != orders[0].ID {
		t.Errorf("local orders = %+v", local)
	}
}

// Code 1 can also come with an order that was created: reconciliation adopts
// it, and no second create_order is sent.
func TestRentAdoptsOrderBehindCode1(t *testing.T) {
	t.Parallel()
	h := newAnswersHarness(t)
	svc := h.service(func(o *commands.Options) { o.Clore = createdThenCode1{Clore: h.client} })
	r := svc.Handle(context.Background(), req("slack:ALICE", "rent 3090"))
	job, err := svc.RunJob(context.Background(), r.JobID)
	if err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("job = %+v, %v", job, err)
	}
	if n, orders := h.requests("create_order"), h.cloreOrders(t); n != 1 || len(orders) != 1 {
		t.Fatalf("%d create_order calls, %d orders; want 1 and 1", n, len(orders))
	}
}

// createdThenCode1 creates the order but reports Clore's database error.
type createdThenCode1 struct{ commands.Clore }

func (c createdThenCode1) CreateOrder(ctx context.Context, r clore.CreateOrderRequest) error {
	if err := c.Clore.CreateOrder(ctx, r); err != nil {
		return err
	}
	return &clore.APIError{Endpoint: "create_order", HTTPStatus: 500, Code: clore.CodeDatabase}
}

// Every offer answering code 1 without an order: the job gives up after
// MaxOfferAttempts offers, having rented nothing.
func TestRentCode1IsBounded(t *testing.T) {
	t.Parallel()
	h := newAnswersHarness(t)
	for range 5 {
		h.sb.InjectNext("create_order", 500, `{"code":1}`)
	}
	svc := h.service(func(o *commands.Options) { o.MaxOfferAttempts = 3 })
	r := svc.Handle(context.Background(), req("slack:ALICE", "rent 3090"))
	job, err := svc.RunJob(context.Background(), r.JobID)
	if err != nil || job.State != commands.JobFailed || !strings.Contains(job.Error, "Gave up after 3 offers") {
		t.Fatalf("job = %+v, %v", job, err)
	}
	if n, orders := h.requests("create_order"), h.cloreOrders(t); n != 3 || len(orders) != 0 {
		t.Fatalf("%d create_order calls, %d orders; want 3 and 0", n, len(orders))
	}
}

// Cancelling an order that already ended behind clorebot's back: Clore
// answers order_not_active, and the job says so at once, with one call.
func TestCancelOfEndedOrderSaysSoAtOnce(t *testing.T) {
	t.Parallel()
	h := newAnswersHarness(t)
	svc := h.service()
	ctx := context.Background()
	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090"))
	if job, err := svc.RunJob(ctx, r.JobID); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("rent = %+v, %v", job, err)
	}
	id := h.cloreOrders(t)[0].ID
	if err := h.client.CancelOrder(ctx, id, ""); err != nil { // ended on the dashboard
		t.Fatal(err)
	}
	before := h.requests("cancel_order")
	c := svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("cancel %d", id)))
	job, err := svc.RunJob(ctx, c.JobID)
	if err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("cancel job = %+v, %v", job, err)
	}
	if n := h.requests("cancel_order") - before; n != 1 {
		t.Errorf("%d cancel_order calls, want 1 (no retries)", n)
	}
	last := h.replies.all()
	if final := last[len(last)-1]; !final.Done || !strings.Contains(final.Text, "already ended") {
		t.Errorf("final reply = %+v", final)
	}
	if o, err := h.store.GetOrderByCloreID(ctx, id); err != nil || o.State != commands.OrderExpired {
		t.Errorf("local order = %+v, %v", o, err)
	}
}

// Cancel answers that will not change are reported at once, not retried.
func TestCancelRefusalsAreNotRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body, want string
		state      string
	}{
		{`{"error":"you_dont_own_this_order","code":6}`, "another Clore account", commands.JobFailed},
		{`{"error":"something_new","code":6}`, "something_new", commands.JobFailed},
		{`{"error":"order_dont_exist","code":6}`, "already ended", commands.JobSucceeded}, // last: it ends the order
	}
	h := newAnswersHarness(t)
	svc := h.service()
	ctx := context.Background()
	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090"))
	if job, err := svc.RunJob(ctx, r.JobID); err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("rent = %+v, %v", job, err)
	}
	id := h.cloreOrders(t)[0].ID
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			before := h.requests("cancel_order")
			h.sb.InjectNext("cancel_order", 200, tt.body)
			c := svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("cancel %d", id)))
			job, err := svc.RunJob(ctx, c.JobID)
			if err != nil || job.State != tt.state {
				t.Fatalf("cancel job = %+v, %v", job, err)
			}
			if n := h.requests("cancel_order") - before; n != 1 {
				t.Errorf("%d cancel_order calls, want 1", n)
			}
			last := h.replies.all()
			if final := last[len(last)-1]; !strings.Contains(final.Text, tt.want) {
				t.Errorf("final reply %q lacks %q", final.Text, tt.want)
			}
		})
	}
}
