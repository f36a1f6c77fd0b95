package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// textRender is a stand-in renderer: {"text": "<type> <order_id>"}; it
// skips job.completed as the chat renderers do.
func textRender(ev commands.Event) ([]byte, bool, error) {
	if ev.Type == "job.completed" {
		return nil, true, nil
	}
	id := int64(0)
	if ev.OrderID != nil {
		id = *ev.OrderID
	}
	b, err := json.Marshal(map[string]string{"text": fmt.Sprintf("%s %d", ev.Type, id)})
	return b, false, err
}

func TestIncomingTargetsGetTheirPayloadOnTheSchedule(t *testing.T) {
	fails := 2
	rc := newDLReceiver(t, func(_ dlRequest, _ int) int {
		if fails > 0 {
			fails--
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	r := newDLRig(t, DispatcherOptions{Incoming: []IncomingTarget{
		{Name: "slack", URL: rc.URL + "/services/T/B/x", Events: []string{"order.running", "order.failed"}, Render: textRender},
	}})
	r.emit("order.running", "j1", `{"order_id": 7, "job_id": "j1"}`)
	r.emit("order.created", "j1", `{"order_id": 7}`) // filtered out
	r.emit("job.completed", "j1", `{"order_id": 7}`) // filtered out
	r.tick(t)                                        // attempt 1: 500
	r.clock.Advance(5 * time.Second)
	r.tick(t) // attempt 2: 500
	r.clock.Advance(5*time.Minute - time.Second)
	r.tick(t)
	if n := len(rc.requests()); n != 2 {
		t.Fatalf("before the third slot of the schedule: %d requests", n)
	}
	r.clock.Advance(time.Second)
	r.tick(t) // attempt 3: 200
	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("requests: %d", len(got))
	}
	for _, req := range got {
		if string(req.body) != `{"text":"order.running 7"}` || req.header.Get("webhook-signature") != "" ||
			req.header.Get("Content-Type") != "application/json" {
			t.Fatalf("request %s %q headers %v", req.path, req.body, req.header)
		}
	}
	d := r.store.all()
	if len(d) != 1 || d[0].State != commands.DeliveryDelivered || d[0].SecretRef != "notify:slack" {
		t.Fatalf("deliveries: %+v", d)
	}
	if r.obs.attempts["incoming/rejected"] != 2 || r.obs.attempts["incoming/delivered"] != 1 {
		t.Errorf("observed %v", r.obs.attempts)
	}
}

// Discord answers 429 with {"retry_after": seconds}; Slack with a
// Retry-After header. The next attempt waits at least that long.
func TestIncomingRetryAfterIsRespected(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer func(w http.ResponseWriter)
		wait   time.Duration
	}{
		{"discord json", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"message": "You are being rate limited.", "retry_after": 64.57, "global": false}`))
		}, 64570 * time.Millisecond},
		{"retry-after header", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
		}, 30 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				calls++
				if calls == 1 {
					tt.answer(w)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			r := newDLRig(t, DispatcherOptions{Incoming: []IncomingTarget{{Name: "discord", URL: srv.URL, Render: textRender}}})
			r.emit("order.failed", "", `{"order_id": 3}`)
			r.tick(t)
			d := r.store.all()[0]
			if d.State != commands.DeliveryPending || !strings.Contains(d.LastError, "429") {
				t.Fatalf("after a 429: %+v", d)
			}
			r.clock.Advance(tt.wait - time.Second) // past the schedule's 5 s, before retry_after
			r.tick(t)
			if calls != 1 {
				t.Fatalf("retried %s after the 429, before its retry_after", tt.wait-time.Second)
			}
			r.clock.Advance(time.Second)
			r.tick(t)
			if calls != 2 || r.store.all()[0].State != commands.DeliveryDelivered {
				t.Fatalf("calls %d, %+v", calls, r.store.all()[0])
			}
		})
	}
}

func TestIncomingTargetRejected(t *testing.T) {
	for _, bad := range []IncomingTarget{
		{Name: "", URL: "https://hooks.example/x", Render: textRender},
		{Name: "slack", URL: "ftp://hooks.example/x", Render: textRender},
		{Name: "slack", URL: "https://hooks.example/x"},
	} {
		if _, err := NewDispatcher(DispatcherOptions{Store: newDLStore(), Incoming: []IncomingTarget{bad}}); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}
