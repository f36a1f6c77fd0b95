package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/httpserver"
	"github.com/clorebot/clorebot/storage"
)

// failingIntake is the database with an intake transaction that fails
// while fail is set (a full disk, a lock held too long).
type failingIntake struct {
	*storage.Store
	fail atomic.Bool
}

func (f *failingIntake) Intake(ctx context.Context, u commands.IntakeUnit) (commands.IntakeResult, error) {
	if f.fail.Load() {
		return commands.IntakeResult{}, errors.New("storage: intake: disk I/O error at /var/lib/clorebot/clorebot.db")
	}
	return f.Store.Intake(ctx, u)
}

// An accepted create-order is one intake transaction: its job, its audit
// row and its dedup record with the answer are there together.
func TestCreateOrderIsOneIntakeTransaction(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c0, u0 := h.store.IntakeStats()
	id := webhook.NewMessageID()
	resp := h.do(h.signedID("POST", "/webhook/create-order", "zapier", id, []byte(`{"gpu_type":"RTX 3090","hours":1}`)))
	if resp.status != http.StatusAccepted {
		t.Fatalf("create-order = %d %s", resp.status, resp.raw)
	}
	if c, u := h.store.IntakeStats(); c-c0 != 1 || u-u0 != 1 {
		t.Errorf("%d intake transactions for %d units, want 1 and 1", c-c0, u-u0)
	}
	found, _, status, answer, err := h.store.LookupWebhook(context.Background(), "zapier", id)
	if err != nil || !found || status != http.StatusAccepted || string(answer) != resp.raw {
		t.Errorf("dedup record = %v %d %q (%v), want the 202 answer %q", found, status, answer, err, resp.raw)
	}
	job, err := h.store.GetJob(context.Background(), resp.str("job_id"))
	if err != nil || job.IdempotencyKey != "webhook:zapier:"+id {
		t.Errorf("job = %+v, %v", job, err)
	}
	rows, err := h.store.ListAudit(context.Background(), commands.AuditFilter{})
	if err != nil || len(rows) != 1 || rows[0].Detail != "job "+job.ID || rows[0].Outcome != commands.StatusQueued {
		t.Errorf("audit rows = %+v, %v; want one for job %s", rows, err, job.ID)
	}
}

// When the intake transaction fails, the request gets 503 with Retry-After,
// naming nothing internal, and nothing is remembered: the retry with the
// same webhook-id is processed afresh and queues one job.
func TestStorageFailureAtIntakeIsNotRemembered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	store := &failingIntake{Store: h.store}
	svc := commands.New(commands.Options{Store: store, Clore: h.client, Policy: testPolicy()})
	if err := svc.RefreshMarket(context.Background()); err != nil {
		t.Fatal(err)
	}
	key, err := webhook.ConfiguredKey("zapier", h.secrets["zapier"])
	if err != nil {
		t.Fatal(err)
	}
	api := webhook.NewAPI(webhook.APIOptions{Service: svc, Keys: []webhook.Key{key}, Dedup: h.store, AtomicIntake: true, Now: h.clock.Now})
	srv := httpserver.New(httpserver.Options{})
	api.Mount(srv)
	h.handler = srv.Handler()

	body := []byte(`{"gpu_type":"RTX 3090","hours":1}`)
	id := webhook.NewMessageID()
	store.fail.Store(true)
	resp := h.do(h.signedID("POST", "/webhook/create-order", "zapier", id, body))
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" ||
		strings.Contains(resp.raw, "/var/lib") || strings.Contains(resp.raw, "disk") {
		t.Fatalf("with storage failing = %d %s (Retry-After %q); want 503 naming nothing internal", resp.status, resp.raw, resp.header.Get("Retry-After"))
	}
	if found, _, _, _, err := h.store.LookupWebhook(context.Background(), "zapier", id); found || err != nil {
		t.Fatalf("the failed request was remembered (%v)", err)
	}
	if n := h.count("jobs"); n != 0 {
		t.Fatalf("%d jobs after a failed intake", n)
	}
	store.fail.Store(false)
	resp = h.do(h.signedID("POST", "/webhook/create-order", "zapier", id, body))
	if resp.status != http.StatusAccepted || resp.header.Get("Idempotent-Replayed") == "true" {
		t.Fatalf("retry = %d %s, want a fresh 202", resp.status, resp.raw)
	}
	again := h.do(h.signedID("POST", "/webhook/create-order", "zapier", id, body))
	if again.raw != resp.raw || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("redelivery = %d %s, want the 202 replayed", again.status, again.raw)
	}
	if n := h.count("jobs"); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
	if ra, _ := strconv.Atoi(resp.header.Get("Retry-After")); ra < 0 {
		t.Errorf("Retry-After %q", resp.header.Get("Retry-After"))
	}
}

// A redelivery that cannot be handled now (the intake failing) still gets
// the answer recorded by its first delivery.
func TestRecordedAnswerSurvivesAFailingRedelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	store := &failingIntake{Store: h.store}
	svc := commands.New(commands.Options{Store: store, Clore: h.client, Policy: testPolicy()})
	if err := svc.RefreshMarket(context.Background()); err != nil {
		t.Fatal(err)
	}
	key, _ := webhook.ConfiguredKey("zapier", h.secrets["zapier"])
	api := webhook.NewAPI(webhook.APIOptions{Service: svc, Keys: []webhook.Key{key}, Dedup: h.store, AtomicIntake: true, Now: h.clock.Now})
	srv := httpserver.New(httpserver.Options{})
	api.Mount(srv)
	h.handler = srv.Handler()
	body := []byte(`{"gpu_type":"RTX 3090","hours":1}`)
	id := webhook.NewMessageID()
	first := h.do(h.signedID("POST", "/webhook/create-order", "zapier", id, body))
	store.fail.Store(true)
	again := h.do(h.signedID("POST", "/webhook/create-order", "zapier", id, body))
	if first.status != http.StatusAccepted || again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("first %d %s, redelivery while failing %d %s", first.status, first.raw, again.status, again.raw)
	}
}
