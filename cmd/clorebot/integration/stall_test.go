package integration_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/httpserver"
	"github.com/clorebot/clorebot/scheduler"
)

// The stall of issue 8: rent jobs hold the Clore limiter (create_order
// spaced an hour apart here, so a call that waits on it waits for the rest
// of the test) while a burst of chat commands and signed webhooks arrives.
// No request may wait on the limiter: every one is answered, from the
// snapshots, while a Clore call made before the burst is still waiting
// after it. The proof does not depend on the machine's speed: a request
// that waited on the limiter would not be answered at all (each has
// perRequest, far beyond any scheduling delay, and far below the hour). The
// latency figure (no request over 1 s under 30,000 create-orders) is
// cmd/webhookload's.
func TestNoRequestWaitsOnTheLimiter(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds")
	}
	const perRequest = 30 * time.Second
	rounds := 8
	if raceEnabled() {
		rounds = 3
	}
	h := newHarness(t)
	h.policy.MaxActiveOrders, h.policy.MaxTeamActiveOrders, h.policy.MaxOrdersPerHour = 0, 0, 0
	h.policy.MaxHourlySpend, h.policy.ConfirmAbove = 0, 0
	slots := &farSlots{MemorySlots: clore.NewMemorySlots()}
	slow := clore.New(clore.Options{BaseURL: h.url, APIKey: "k", Interval: time.Millisecond,
		CreateInterval: time.Hour, MaxRetries: 2, Backoff: time.Millisecond, Slots: slots})
	// The early refreshes run on a scheduler, as in serve.
	sched, err := scheduler.New(scheduler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := h.service(func(o *commands.Options) {
		o.Clore, o.Workers = slow, 4
		o.MarketTTL = time.Millisecond // every market and rent also asks for an early refresh
		o.EarlyRefresh = func() { sched.Kick(scheduler.TaskEarlyRefresh) }
	})
	if err := (scheduler.Table{EarlyRefresh: svc.RefreshMarketEarly}).Register(sched); err != nil {
		t.Fatal(err)
	}
	sched.Start()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait(); _ = sched.Stop() })

	for i := range 24 {
		q := req("slack:ALICE", "rent 3090 --hours 1")
		q.IdempotencyKey = fmt.Sprint("queued-", i)
		if r := svc.Handle(ctx, q); r.Status != commands.StatusQueued {
			t.Fatalf("queueing rent %d = %+v", i, r)
		}
	}
	wg.Go(func() { svc.Run(ctx) })
	// After the first create_order (an order, or a refusal such as the
	// sandbox's code 6 "server-offline", as the real Clore answers for a
	// server gone offline since the snapshot), a worker's next create_order
	// waits for its slot, an hour away, at the head of the limiter's line.
	waitFor(t, 30*time.Second, slots.far.Load)

	// Control: a Clore call made now waits behind the workers' next
	// create_order, an hour away, as the old request path did.
	control := make(chan error, 1)
	wg.Go(func() {
		_, err := slow.Marketplace(ctx)
		control <- err
	})

	api := stallAPI(t, svc)
	chat := []string{"market", "market 4090", "rent 3090 --hours 1", "status", "cancel 999999", "help", "watch list"}
	type result struct {
		what   string
		status string
		took   time.Duration
	}
	results := make(chan result, 200)
	var burst sync.WaitGroup
	for i := range rounds {
		for _, text := range chat {
			burst.Go(func() {
				start := time.Now()
				q := req("slack:BOB", text)
				q.IdempotencyKey = fmt.Sprint("burst-", i, "-", text)
				rctx, cancel := context.WithTimeout(ctx, perRequest)
				defer cancel()
				r := svc.Handle(rctx, q)
				status := r.Status
				if r.Temporary {
					status = "temporary " + status
				}
				results <- result{"chat " + text, status, time.Since(start)}
			})
		}
		for _, call := range []struct{ method, path, body string }{
			{"POST", "/webhook/create-order", `{"gpu_type":"RTX 3090","hours":1}`},
			{"GET", "/webhook/marketplace", ""},
			{"POST", "/webhook/status", `{}`},
		} {
			burst.Go(func() {
				start := time.Now()
				status := api.send(t, call.method, call.path, call.body, perRequest)
				results <- result{"webhook " + call.method + " " + call.path, fmt.Sprint(status), time.Since(start)}
			})
		}
	}
	burst.Wait()
	close(results)
	n, slowest := 0, time.Duration(0)
	for r := range results {
		n++
		slowest = max(slowest, r.took)
		if r.took >= perRequest || strings.HasPrefix(r.status, "temporary") || strings.HasPrefix(r.status, "5") || r.status == "0" {
			t.Errorf("%s answered %s after %s: it waited on the limiter", r.what, r.status, r.took)
		}
	}
	select {
	case err := <-control:
		t.Fatalf("the control Clore call returned during the burst (%v): the limiter was not busy, the test proves nothing", err)
	default:
	}
	t.Logf("%d requests answered (slowest %s) while a Clore call waited on the limiter", n, slowest)
}

// stallClient signs requests for the webhook API of a Service.
type stallClient struct {
	url string
	key webhook.Key
}

func stallAPI(t *testing.T, svc *commands.Service, opts ...func(*webhook.APIOptions)) stallClient {
	t.Helper()
	key, err := webhook.ConfiguredKey("zapier", "whsec_"+base64.StdEncoding.EncodeToString([]byte("stall-test-secret-0123456789ab")))
	if err != nil {
		t.Fatal(err)
	}
	o := webhook.APIOptions{Service: svc, Keys: []webhook.Key{key}}
	for _, f := range opts {
		f(&o)
	}
	api := webhook.NewAPI(o)
	srv := httpserver.New(httpserver.Options{})
	api.Mount(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return stallClient{url: ts.URL, key: key}
}

// post sends a signed POST and returns the status and the body.
func (c stallClient) post(t *testing.T, path, body string) (int, string) {
	r, err := http.NewRequest("POST", c.url+path, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	r.Header = webhook.SignedHeaders(c.key.Secret, webhook.NewMessageID(), time.Now(), []byte(body))
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c stallClient) send(t *testing.T, method, path, body string, timeout time.Duration) int {
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	r, err := http.NewRequest(method, c.url+path, bytes.NewReader(b))
	if err != nil {
		t.Error(err)
		return 0
	}
	r.Header = webhook.SignedHeaders(c.key.Secret, webhook.NewMessageID(), time.Now(), b)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: timeout}).Do(r)
	if err != nil {
		return 0 // reported by the caller
	}
	resp.Body.Close()
	return resp.StatusCode
}

// farSlots are the limiter's slots in memory, noting when a caller found
// the next slot more than half an hour away: it then holds the head of the
// limiter's line until that slot, and every later call waits behind it.
type farSlots struct {
	*clore.MemorySlots
	far atomic.Bool
}

func (f *farSlots) NextSlot(ctx context.Context, key string, lanes []string) (time.Time, error) {
	next, err := f.MemorySlots.NextSlot(ctx, key, lanes)
	if err == nil && time.Until(next) > 30*time.Minute {
		f.far.Store(true)
	}
	return next, err
}
