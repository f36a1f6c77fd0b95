package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/bot/slackbot/slacktest"
)

var confirmActionPattern = regexp.MustCompile(`"action_id":"(confirm:[A-Za-z0-9_-]+)"`)

// sendClick sends a click envelope and waits for its ack.
func (s *slackApp) sendClick(t *testing.T, envelope string, payload map[string]any) {
	t.Helper()
	if err := s.fake.Send(slacktest.Envelope(envelope, "interactive", payload, 0)); err != nil {
		t.Fatalf("send %s: %v", envelope, err)
	}
	s.ack(t, envelope)
}

// responseAfter waits for a response_url post to path containing want.
func (s *slackApp) responseTo(t *testing.T, path, want string) map[string]any {
	t.Helper()
	var body map[string]any
	_, ok := s.fake.WaitResponses(slackWait, func(rs []slacktest.Response) bool {
		for _, r := range rs {
			raw, _ := json.Marshal(r.Body)
			if r.Path == path && strings.Contains(string(raw), want) {
				body = r.Body
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no response to %s containing %q; responses: %+v", path, want, s.fake.Responses())
	}
	return body
}

// Rent now, end to end through the real slack-go client: a rent above
// policy.confirm_above is shown to the renter alone with a Rent now button
// confirm:<job id> (DESIGN §2) and rents nothing; another user's click is
// refused to them alone; the renter's click rents after the policy checks,
// closes the prompt and shows the job's progress as one channel message; a
// second click and a duplicate envelope of the click rent nothing more.
// Then the Extend button (extend:<order id>, carrying the end it extends)
// of that order: another user is refused, the renter's click extends once,
// a second click on the same button extends nothing.
func TestSlackRentNowAndExtendButtons(t *testing.T) {
	t.Parallel()
	s := startSlackServeConfirming(t, "", nil, 0.01)
	s.waitConnected(t, 1)

	if a := s.slash(t, "env-rent", "UALICE", "C1", "rent 3090 --hours 1"); len(a.Payload) != 0 && string(a.Payload) != "null" {
		t.Errorf("rent ack carries %s", a.Payload)
	}
	prompt := s.responseTo(t, "/response/cmd-trig-env-rent", "Rent now")
	raw, _ := json.Marshal(prompt)
	m := confirmActionPattern.FindStringSubmatch(string(raw))
	if m == nil || prompt["response_type"] != "ephemeral" {
		t.Fatalf("confirmation prompt = %s; want an ephemeral message with a confirm:<job id> button", raw)
	}
	action := m[1]
	if !strings.Contains(string(raw), `"style":"danger"`) || !strings.Contains(string(raw), `"confirm":{`) {
		t.Errorf("Rent now is not a danger button with a confirm dialog: %s", raw)
	}
	live := func() int {
		orders, err := s.app.clore.MyOrders(context.Background(), false)
		if err != nil {
			t.Fatal(err)
		}
		return len(orders)
	}
	if n, msgs := live(), topLevel(s.fake.Messages()); n != 0 || len(msgs) != 0 {
		t.Fatalf("before any click: %d orders, channel messages %+v", n, msgs)
	}

	// Bob, a renter too, cannot confirm Alice's rent.
	s.sendClick(t, "env-bob", s.fake.EphemeralClick("UBOB", "C1", action, strings.TrimPrefix(action, "confirm:"), "bob"))
	deny := s.responseTo(t, "/response/act-bob", "or an admin may confirm")
	if deny["response_type"] != "ephemeral" || deny["replace_original"] == true {
		t.Errorf("bob's denial = %+v; want an ephemeral answer that leaves the prompt", deny)
	}
	if n := live(); n != 0 {
		t.Fatalf("bob's click rented %d orders", n)
	}

	// Alice clicks, clicks again, and Slack redelivers her first click.
	click := s.fake.EphemeralClick("UALICE", "C1", action, strings.TrimPrefix(action, "confirm:"), "alice-1")
	for _, env := range []map[string]any{
		slacktest.Envelope("env-alice-1", "interactive", click, 0),
		slacktest.Envelope("env-alice-1", "interactive", click, 1),
		slacktest.Envelope("env-alice-2", "interactive", s.fake.EphemeralClick("UALICE", "C1", action, strings.TrimPrefix(action, "confirm:"), "alice-2"), 0),
	} {
		if err := s.fake.Send(env); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.fake.WaitAcks("env-alice-1", 2, slackWait)); n != 2 {
		t.Errorf("the redelivered click was acknowledged %d times, want 2", n)
	}
	s.ack(t, "env-alice-2")
	// The clicks race: the first confirms and closes the prompt; the other
	// is told the rent is under way, or (when it finds the job queued)
	// that it is confirmed — either way it acts no more.
	first := s.responseTo(t, "/response/act-alice-1", `"text":`)
	second := s.responseTo(t, "/response/act-alice-2", `"text":`)
	confirmed := 0
	for _, r := range []map[string]any{first, second} {
		switch text := fmt.Sprint(r["text"]); {
		case strings.Contains(text, "Confirmed"):
			confirmed++
			if r["replace_original"] != true {
				t.Errorf("the prompt was not replaced: %+v", r)
			}
		case strings.Contains(text, "already queued") || strings.Contains(text, "already"):
			if r["response_type"] != "ephemeral" {
				t.Errorf("the second click's answer is not ephemeral: %+v", r)
			}
		default:
			t.Errorf("click answered %q", text)
		}
	}
	if confirmed == 0 {
		t.Errorf("no click confirmed: %+v | %+v", first, second)
	}
	msgs, ok := s.fake.WaitMessages(slackWait, func(ms []slacktest.Message) bool {
		return len(ms) > 0 && orderIDPattern.MatchString(ms[0].Text)
	})
	if !ok {
		t.Fatalf("no running progress message after the confirmation: %+v", msgs)
	}
	if top := topLevel(msgs); len(top) != 1 || top[0].Channel != "C1" {
		t.Fatalf("%d progress messages, want one in C1: %+v", len(top), top)
	}
	if n := live(); n != 1 {
		t.Fatalf("%d orders after two clicks and a redelivery, want 1", n)
	}
	orderID := orderIDPattern.FindStringSubmatch(msgs[0].Text)[1]

	// Extend: the button carries the end it extends.
	id, _ := strconv.ParseInt(orderID, 10, 64)
	o, err := s.app.store.GetOrderByCloreID(context.Background(), id)
	if err != nil || o.ExpiresAt == nil {
		t.Fatalf("order %d: %+v, %v", id, o, err)
	}
	end := *o.ExpiresAt
	extend := "extend:" + orderID
	from := strconv.FormatInt(end.Unix(), 10)
	ts := msgs[0].TS
	s.sendClick(t, "env-ext-bob", s.fake.Click("UBOB", "C1", ts, extend, from, "ext-bob"))
	s.responseTo(t, "/response/act-ext-bob", "only its renter or an admin may extend")
	s.sendClick(t, "env-ext-1", s.fake.Click("UALICE", "C1", ts, extend, from, "ext-1"))
	s.responseTo(t, "/response/act-ext-1", "extended by 1 h")
	s.sendClick(t, "env-ext-2", s.fake.Click("UALICE", "C1", ts, extend, from, "ext-2"))
	// The same click again is the same request (button and message): it
	// gets the first answer, to the clicker alone.
	again := s.responseTo(t, "/response/act-ext-2", "extended by 1 h")
	if again["response_type"] != "ephemeral" {
		t.Errorf("second Extend click answered %+v; want ephemeral", again)
	}
	o, _ = s.app.store.GetOrderByCloreID(context.Background(), id)
	if got := o.ExpiresAt.Sub(end); got.Hours() != 1 {
		t.Errorf("order extended by %v, want 1 h once", got)
	}
	for _, m := range s.fake.Messages() {
		if strings.Contains(m.Text+string(m.Blocks), "Password") {
			t.Errorf("connection details in a channel message: %s", fmt.Sprint(m.Text))
		}
	}
}

// A watch alert in Slack carries Rent now (confirm:<job id>): the watcher's
// click turns the alert message itself into the job's progress and rents
// once; another user's click is refused to them alone.
func TestSlackWatchAlertRentNow(t *testing.T) {
	t.Parallel()
	s := startSlackServe(t, "", nil)
	s.waitConnected(t, 1)
	if a := s.slash(t, "env-watch", "UALICE", "C1", "watch 3090 1"); !strings.Contains(string(a.Payload), "atch") {
		t.Fatalf("watch ack = %s", a.Payload)
	}
	waitLeading(t, s.base) // the watch tick is the leader's (DESIGN §8)
	if err := s.app.sched.RunNow(taskWatchTick); err != nil {
		t.Fatal(err)
	}
	var alert slacktest.Message
	_, ok := s.fake.WaitMessages(slackWait, func(ms []slacktest.Message) bool {
		for _, m := range ms {
			if confirmActionPattern.MatchString(string(m.Blocks)) {
				alert = m
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no watch alert with Rent now: %+v", topLevel(s.fake.Messages()))
	}
	action := confirmActionPattern.FindStringSubmatch(string(alert.Blocks))[1]
	jobID := strings.TrimPrefix(action, "confirm:")
	live := func() int {
		orders, err := s.app.clore.MyOrders(context.Background(), false)
		if err != nil {
			t.Fatal(err)
		}
		return len(orders)
	}
	if n := live(); n != 0 {
		t.Fatalf("the alert rented %d orders before any click", n)
	}
	s.sendClick(t, "env-wbob", s.fake.Click("UBOB", alert.Channel, alert.TS, action, jobID, "wbob"))
	s.responseTo(t, "/response/act-wbob", "or an admin may confirm")
	s.sendClick(t, "env-walice", s.fake.Click("UALICE", alert.Channel, alert.TS, action, jobID, "walice"))
	s.sendClick(t, "env-walice-2", s.fake.Click("UALICE", alert.Channel, alert.TS, action, jobID, "walice-2"))
	msgs, ok := s.fake.WaitMessages(slackWait, func(ms []slacktest.Message) bool {
		for _, m := range ms {
			if m.TS == alert.TS && orderIDPattern.MatchString(m.Text) {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("the alert message never became the running order: %+v", msgs)
	}
	if n := live(); n != 1 {
		t.Errorf("%d orders after two clicks, want 1", n)
	}
	var progress int
	for _, m := range topLevel(msgs) {
		if orderIDPattern.MatchString(m.Text) {
			progress++
		}
	}
	if progress != 1 {
		t.Errorf("%d running messages, want the alert alone", progress)
	}
}
