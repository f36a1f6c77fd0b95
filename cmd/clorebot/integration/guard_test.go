package integration_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// 12 concurrent rents with max_active_orders = 1, through each front door's
// path: exactly one is accepted, the others are refused naming the cap, and
// one order reaches the sandbox.
func TestConcurrentRentsHoldMaxActiveOrders(t *testing.T) {
	t.Parallel()
	const n = 12
	tests := []struct {
		name string
		// rent sends rent i and reports whether it was accepted, and the
		// refusal's text otherwise.
		rent func(t *testing.T, h *harness, svc *commands.Service, i int) (bool, string)
	}{
		{"command layer", func(t *testing.T, h *harness, svc *commands.Service, i int) (bool, string) {
			r := svc.Handle(context.Background(), req("slack:ALICE", "rent 3090 --hours 1"))
			return r.Status == commands.StatusQueued, r.Text
		}},
		{"exec: one process each", func(t *testing.T, h *harness, _ *commands.Service, i int) (bool, string) {
			// clorebot exec opens its own store on the file and its own service.
			st, err := storage.Open(context.Background(), storagetest.At(t, filepath.Join(h.dir, "clorebot.db")))
			if err != nil {
				t.Error(err)
				return false, ""
			}
			defer st.Close()
			svc := h.service(func(o *commands.Options) { o.Store = st })
			q := commands.Request{Platform: commands.PlatformCLI, User: "cli:ops", Channel: "cli",
				Text: "rent 3090 --hours 1", IdempotencyKey: fmt.Sprint("cli:", i)}
			r := svc.Handle(context.Background(), q)
			return r.Status == commands.StatusQueued, r.Text
		}},
		{"webhook API", func(t *testing.T, h *harness, svc *commands.Service, i int) (bool, string) {
			status, body := h.api.post(t, "/webhook/create-order", `{"gpu_type":"RTX 3090","hours":1}`)
			return status == http.StatusAccepted, fmt.Sprint(status, " ", body)
		}},
		// As serve runs it: dedup record, job and audit row in one
		// transaction, group-committed with the other requests.
		{"webhook API, one-transaction intake", func(t *testing.T, h *harness, svc *commands.Service, i int) (bool, string) {
			status, body := h.atomicAPI.post(t, "/webhook/create-order", `{"gpu_type":"RTX 3090","hours":1}`)
			return status == http.StatusAccepted, fmt.Sprint(status, " ", body)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A small marketplace: the exec case loads it twelve times.
			h := newHarness(t, func(o *sandbox.Options) { o.Servers = 300 })
			h.policy.MaxActiveOrders = 1
			svc := h.service()
			h.api = stallAPI(t, svc)
			h.atomicAPI = stallAPI(t, svc, func(o *webhook.APIOptions) { o.Dedup, o.AtomicIntake = h.store, true })
			var wg sync.WaitGroup
			accepted := make(chan bool, n)
			refusals := make(chan string, n)
			for i := range n {
				wg.Go(func() {
					ok, text := tt.rent(t, h, svc, i)
					accepted <- ok
					if !ok {
						refusals <- text
					}
				})
			}
			wg.Wait()
			close(accepted)
			close(refusals)
			got := 0
			for ok := range accepted {
				if ok {
					got++
				}
			}
			if got != 1 {
				t.Fatalf("%d of %d concurrent rents accepted, want exactly 1", got, n)
			}
			for text := range refusals {
				if !strings.Contains(text, "max_active_orders") {
					t.Errorf("refusal does not name the cap: %s", text)
				}
			}
			runAll(t, h, svc)
			if orders := h.cloreOrders(t); len(orders) != 1 {
				t.Fatalf("%d orders at the sandbox, want 1", len(orders))
			}
		})
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
