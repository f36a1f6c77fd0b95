package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/contract"
)

// rentRunning rents through the command layer and runs the job until the
// order runs; it returns the Clore order id.
func rentRunning(t *testing.T, svc *commands.Service, text string) int64 {
	t.Helper()
	job := runRent(t, svc, text)
	if job.State != commands.JobSucceeded {
		t.Fatalf("%s: job %+v", text, job)
	}
	var res struct {
		OrderID int64 `json:"id"` // the job's result is the order's commands.OrderInfo
	}
	if err := json.Unmarshal(job.Result, &res); err != nil || res.OrderID == 0 {
		t.Fatalf("job result %s: %v", job.Result, err)
	}
	return res.OrderID
}

// eventsOf returns the data of the outbox events of type typ. Every event
// in the outbox, of any type, is checked against docs/schema/event.json as
// a delivery carries it: the lifecycle's real events keep the contract.
func (h *harness) eventsOf(t *testing.T, typ string) []map[string]any {
	t.Helper()
	evs, err := h.store.ListEvents(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range evs {
		body, _ := json.Marshal(map[string]any{"type": e.Type, "timestamp": e.CreatedAt.UTC().Format(time.RFC3339), "data": e.Data})
		contract.LoadSchemas(t).Validate(t, "event.json", body)
		if e.Type == typ {
			var d map[string]any
			_ = json.Unmarshal(e.Data, &d)
			out = append(out, d)
		}
	}
	return out
}

func (h *harness) cloreOrder(t *testing.T, id int64) (expired, found bool) {
	for _, o := range h.cloreOrders(t) {
		if o.ID == id {
			return o.Expired, true
		}
	}
	return false, false
}

func TestTTLReminderExtendAndAutomaticCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	h.policy.ReminderBefore = 15 * time.Minute
	h.policy.Admins = append(h.policy.Admins, "discord-role:OPS")
	clock := newFakeClock()
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	ctx := context.Background()
	id := rentRunning(t, svc, "rent 4090 --hours 1")

	clock.Advance(50 * time.Minute)
	tick(t, svc)
	tick(t, svc)
	if n := len(h.eventsOf(t, "order.expiring")); n != 1 {
		t.Fatalf("%d order.expiring events, want 1", n)
	}
	// The reminder's Extend 1 h button, as bot/chat draws it from the
	// event (chat.EventReply, tested there): extend:<order id>, with the
	// end it was shown for (Unix seconds) as its value.
	reminder := h.eventsOf(t, "order.expiring")[0]
	order, _ := reminder["order"].(map[string]any)
	end, err := time.Parse(time.RFC3339, fmt.Sprint(order["ends_at"]))
	if order["id"] != float64(id) || err != nil { // JSON numbers decode as float64
		t.Fatalf("reminder names no order and end for its Extend 1h button: %v", reminder)
	}
	extend := commands.Action{ID: fmt.Sprintf("extend:%d", id), Value: strconv.FormatInt(end.Unix(), 10)}
	click := func(user string) commands.Reply {
		return svc.Handle(ctx, commands.Request{Platform: commands.PlatformSlack, User: user,
			Action: &extend, IdempotencyKey: "click:" + time.Now().String()})
	}
	if r := click("slack:BOB"); r.Status != commands.StatusDenied {
		t.Fatalf("bob extended alice's order: %+v", r)
	}
	before, _ := h.store.GetOrderByCloreID(ctx, id)
	if r := click("slack:ALICE"); r.Status != commands.StatusOK || !strings.Contains(r.Text, "extended by 1 h") {
		t.Fatalf("extend: %+v", r)
	}
	if r := click("slack:ALICE"); !strings.Contains(r.Text, "extended already") {
		t.Fatalf("second click on the same reminder: %+v", r)
	}
	after, _ := h.store.GetOrderByCloreID(ctx, id)
	if got := after.ExpiresAt.Sub(*before.ExpiresAt); got != time.Hour {
		t.Fatalf("extended by %s, want 1h", got)
	}
	if n := len(h.eventsOf(t, "order.extended")); n != 1 {
		t.Fatalf("%d order.extended events", n)
	}
	if r := svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("extend %d 200", id))); r.Status != commands.StatusError || !strings.Contains(r.Text, "maximum") {
		t.Fatalf("extend past max_hours: %+v", r)
	}
	// An admin by a Discord role may extend others' orders (here, too far).
	byRole := commands.Request{Platform: commands.PlatformDiscord, User: "discord:99", Roles: []string{"discord-role:OPS"},
		Text: fmt.Sprintf("extend %d 200", id), IdempotencyKey: "role-admin"}
	if r := svc.Handle(ctx, byRole); r.Status != commands.StatusError || !strings.Contains(r.Text, "maximum") {
		t.Fatalf("extend by a role-based admin: %+v", r)
	}

	clock.Advance(71 * time.Minute) // past the new end
	tick(t, svc)
	o, _ := h.store.GetOrderByCloreID(ctx, id)
	if o.State != commands.OrderExpired {
		t.Fatalf("order state %s after its end", o.State)
	}
	if expired, found := h.cloreOrder(t, id); !found || !expired {
		t.Fatalf("order at Clore: found %v, expired %v; want cancelled", found, expired)
	}
	evs := h.eventsOf(t, "order.expired")
	if len(evs) != 1 || evs[0]["reason"] != "ttl" {
		t.Fatalf("order.expired events: %v", evs)
	}
}

func TestTTLPassedWhileDownIsEnforcedAtStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	svc := h.service()
	id := rentRunning(t, svc, "rent 4090 --hours 1")
	// The process stops; it starts again three hours later.
	later := h.service(func(o *commands.Options) { o.Clock = offsetClock{3 * time.Hour} })
	tick(t, later)
	if o, _ := h.store.GetOrderByCloreID(context.Background(), id); o.State != commands.OrderExpired {
		t.Fatalf("state %s", o.State)
	}
	if expired, _ := h.cloreOrder(t, id); !expired {
		t.Fatal("order still running at Clore")
	}
}

func TestOutbidSpotOrderIsReported(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	svc := h.service()
	id := rentRunning(t, svc, "rent 4090 --spot --hours 4")
	// Someone outbids it: the order ends at Clore without clorebot.
	if err := h.client.CancelOrder(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	tick(t, svc)
	if o, _ := h.store.GetOrderByCloreID(context.Background(), id); o.State != commands.OrderExpired {
		t.Fatalf("state %s", o.State)
	}
	evs := h.eventsOf(t, "order.expired")
	if len(evs) != 1 || evs[0]["reason"] != "outbid" {
		t.Fatalf("order.expired events: %v", evs)
	}
	// chat.EventReply words reason "outbid" ("was outbid and ended"):
	// bot/chat's tests check it on this event's fields.
}

func TestAdminsSeeOrdersMadeOutsideClorebotAndTheyAreNeverCancelled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	clock := newFakeClock()
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	ctx := context.Background()
	o := h.market(t).cheapest("RTX 3090")
	cur := ""
	for _, c := range o.Currencies {
		if o.OnDemandPerDay[c] > 0 {
			cur = c
			break
		}
	}
	err := h.client.CreateOrder(ctx, clore.CreateOrderRequest{RentingServer: o.ServerID, Type: clore.OrderOnDemand,
		Currency: cur, Image: "cloreai/ubuntu22.04-cuda-12.4", Ports: map[string]string{"22": "tcp"}, SSHPassword: "Abcdefgh12345678"})
	if err != nil {
		t.Fatal(err)
	}
	tick(t, svc)
	r := svc.Handle(ctx, req("slack:ADA", "status"))
	if len(r.Fields) != 1 || !strings.Contains(r.Fields[0].Value, "not created by clorebot") {
		t.Fatalf("admin status: %+v", r)
	}
	if r := svc.Handle(ctx, req("slack:ALICE", "status")); len(r.Fields) != 0 {
		t.Fatalf("a renter sees someone else's order: %+v", r)
	}
	clock.Advance(30 * 24 * time.Hour)
	tick(t, svc)
	orders := h.cloreOrders(t)
	if len(orders) != 1 || orders[0].Expired {
		t.Fatalf("the outside order was touched: %+v", orders)
	}
}

func TestExtendAndConfirmGrammar(t *testing.T) {
	for _, tc := range []struct {
		text, want string // want: the canonical text, or "error"
	}{
		{"extend 12345", "extend 12345"},
		{"extend #12345 4", "extend 12345 4"},
		{"extend 12345 1.5h", "extend 12345 1.5"},
		{"extend", "error"},
		{"extend 12345 0", "error"},
		{"extend 12345 -2", "error"},
		{"extend 12345 9999", "error"},
		{"extend abc", "error"},
		{"extend 1 2 3", "error"},
		{"confirm 4xq2m7ab3kfe6c5p", "confirm 4xq2m7ab3kfe6c5p"},
		{"confirm", "error"},
		{"confirm a b", "error"},
		{"confirm ../../etc", "error"},
		{"confirm " + strings.Repeat("a", 65), "error"},
	} {
		c, err := commands.Parse(tc.text)
		switch {
		case tc.want == "error" && err == nil:
			t.Errorf("%q parsed as %q, want an error", tc.text, c.String())
		case tc.want != "error" && err != nil:
			t.Errorf("%q: %v", tc.text, err)
		case tc.want != "error" && c.String() != tc.want:
			t.Errorf("%q → %q, want %q", tc.text, c.String(), tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "Usage:") {
			t.Errorf("%q: error without usage: %v", tc.text, err)
		}
	}
}
