package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/contract"
)

// contractCall sends a signed request that docs/openapi.yaml describes,
// checks the request against the document (harness.do checks every
// answer), and the answer's body against schema (docs/schema). A request
// answered 400 may break the document (a field of the wrong type).
func (h *harness) contractCall(method, path, key, schema string, body []byte, want int) response {
	h.t.Helper()
	req := h.signed(method, path, key, body)
	if method == http.MethodPost {
		if err := contract.LoadOpenAPI(h.t).CheckRequest(req, body); err != nil && want != http.StatusBadRequest {
			h.t.Errorf("request %s %s %s breaks docs/openapi.yaml: %v", method, path, body, err)
		}
	}
	resp := h.do(req)
	if resp.status != want {
		h.t.Fatalf("%s %s %s = %d %s; want %d", method, path, body, resp.status, resp.raw, want)
	}
	contract.LoadSchemas(h.t).Validate(h.t, schema, []byte(resp.raw))
	return resp
}

// Every route's real answers, errors included, and every event the rents,
// cancels, watches and wallet check emit, as delivered to a subscriber and
// to callbacks, validate against docs/schema and docs/openapi.yaml.
func TestEveryWebhookAnswerAndEventKeepsTheContract(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *webhook.APIOptions, p *commands.Policy) {
		o.CallbackAllowPrivate = true
		o.Replies = o.Dedup.(webhook.ReplyStore) // the database: answers of status and command go to their callback_url
		p.ConfirmAbove = 0.01                    // every rent awaits confirmation: the confirm route is exercised
		p.LowBalanceUSD = 1e9                    // the wallet check emits wallet.low_balance
	})
	ctx := context.Background()
	var mu sync.Mutex
	var deliveries [][]byte
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("webhook-id") == "" || r.Header.Get("webhook-signature") == "" || r.Header.Get("webhook-timestamp") == "" {
			t.Errorf("a delivery without Standard Webhooks headers: %v", r.Header)
		}
		mu.Lock()
		deliveries = append(deliveries, b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	cb := func(body string) []byte { return fmt.Appendf(nil, body, rc.URL+"/cb") }
	run := func(id string) {
		t.Helper()
		if job, err := h.svc.RunJob(ctx, id); err != nil || job.State != commands.JobSucceeded {
			t.Fatalf("RunJob %s = %+v, %v", id, job.State, err)
		}
	}

	market := h.contractCall("GET", "/webhook/marketplace", "watcher", "marketplace.json", nil, 200)
	if models, _ := market.body["models"].([]any); len(models) == 0 {
		t.Fatalf("marketplace: %s", market.raw)
	}

	// A rent with a callback: awaiting confirmation, confirmed, run.
	rent := h.contractCall("POST", "/webhook/create-order", "zapier", "answer-queued.json",
		cb(`{"gpu_type":"RTX 3090","count":1,"max_price":4.5,"hours":2,"callback_url":%q}`), 202)
	id := rent.str("job_id")
	h.contractCall("GET", "/webhook/jobs/"+id, "zapier", "job-answer.json", nil, 200)
	h.contractCall("POST", "/webhook/jobs/"+id+"/confirm", "zapier", "answer-queued.json", fmt.Appendf(nil, `{"job_id":%q}`, id), 202)
	run(id)
	done := h.contractCall("GET", "/webhook/jobs/"+id, "zapier", "job-answer.json", nil, 200)
	order, _ := done.body["order"].(map[string]any)
	orderID, _ := order["id"].(float64)
	if done.str("state") != "succeeded" || orderID == 0 || order["ssh"] != nil {
		t.Fatalf("job with a callback = %s; want its order, and no ssh (it went to the callback)", done.raw)
	}

	// A rent without one: the first GET hands the ssh object over.
	plain := h.contractCall("POST", "/webhook/command", "zapier", "answer-queued.json", []byte(`{"text":"rent 3090 --hours 1"}`), 202)
	h.contractCall("POST", "/webhook/jobs/"+plain.str("job_id")+"/confirm", "zapier", "answer-queued.json",
		fmt.Appendf(nil, `{"job_id":%q}`, plain.str("job_id")), 202)
	run(plain.str("job_id"))
	handed := h.contractCall("GET", "/webhook/jobs/"+plain.str("job_id"), "zapier", "job-answer.json", nil, 200)
	if ssh := sshOf(handed.body); ssh == nil || ssh["password"] == nil || ssh["host"] == nil {
		t.Fatalf("first GET = %s; want order.ssh with a password", handed.raw)
	}

	status := h.contractCall("POST", "/webhook/status", "zapier", "status.json", cb(`{"callback_url":%q}`), 200)
	if orders, _ := status.body["orders"].([]any); len(orders) != 2 {
		t.Fatalf("status = %s; want the 2 orders as objects", status.raw)
	}
	h.contractCall("POST", "/webhook/status", "watcher", "status.json", nil, 200) // none: orders []
	h.contractCall("POST", "/webhook/command", "zapier", "answer-ok.json", cb(`{"text":"market 3090","callback_url":%q}`), 200)
	h.contractCall("POST", "/webhook/command", "zapier", "answer-ok.json", fmt.Appendf(nil, `{"text":"extend %d 1"}`, int64(orderID)), 200)
	h.contractCall("POST", "/webhook/price-alert", "zapier", "answer-ok.json", cb(`{"gpu_type":"RTX 3090","target_price":4.9,"callback_url":%q}`), 201)
	cancel := h.contractCall("POST", "/webhook/cancel-order", "zapier", "answer-queued.json",
		cb(fmt.Sprintf(`{"order_id":%d,"callback_url":%%q}`, int64(orderID))), 202)
	run(cancel.str("job_id"))
	h.contractCall("GET", "/webhook/jobs/"+cancel.str("job_id"), "zapier", "job-answer.json", nil, 200)
	if err := h.svc.Tick(ctx); err != nil { // the watch triggers, the wallet check runs
		t.Fatal(err)
	}

	// Errors: every one is {error, field?}.
	bad := h.contractCall("POST", "/webhook/create-order", "zapier", "error.json", []byte(`{"gpu_type":"RTX 3090","max_price":"cheap"}`), 400)
	if bad.str("field") != "max_price" {
		t.Errorf("400 = %s; want field max_price", bad.raw)
	}
	h.contractCall("POST", "/webhook/command", "zapier", "error.json", []byte(`{"text":"rent"}`), 400)
	h.contractCall("POST", "/webhook/create-order", "watcher", "error.json", []byte(`{"gpu_type":"RTX 3090"}`), 403)
	h.contractCall("GET", "/webhook/jobs/nosuchjob", "zapier", "error.json", nil, 404)
	unsigned := request("GET", "/webhook/marketplace", nil)
	if r := h.do(unsigned); r.status != 401 {
		t.Errorf("unsigned = %d %s", r.status, r.raw)
	} else {
		contract.LoadSchemas(t).Validate(t, "error.json", []byte(r.raw))
	}

	// Every outbox event, as the dispatcher delivers it.
	key, _ := webhook.ParseSecret(h.secrets["zapier"])
	d, err := webhook.NewDispatcher(webhook.DispatcherOptions{Store: h.store, KeySecrets: map[string][]byte{"zapier": key},
		Subscribers: []webhook.Subscriber{{URL: rc.URL + "/sub", Secret: []byte("subscriber-secret")}}, CallbackAllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var types []string
	for _, b := range deliveries {
		contract.LoadSchemas(t).Validate(t, "event.json", b)
		var ev struct{ Type string }
		_ = json.Unmarshal(b, &ev)
		types = append(types, ev.Type)
	}
	for _, want := range []string{"order.created", "order.running", "order.extended", "order.cancelled", "job.completed",
		"order.connection", "status.report", "command.reply", "watch.triggered", "wallet.low_balance"} {
		if !slices.Contains(types, want) {
			t.Errorf("no %s among the deliveries %v", want, types)
		}
	}
}
