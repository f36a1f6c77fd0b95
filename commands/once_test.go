package commands_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// keyed is a Request as a chat front door builds it: the same key on
// every delivery of one command.
func keyed(user, text, key string) commands.Request {
	return commands.Request{Platform: commands.PlatformSlack, User: user, Channel: "C1", Text: text, IdempotencyKey: key}
}

// deliverTimes hands r to svc n times at once and returns the answers.
func deliverTimes(svc *commands.Service, r commands.Request, n int) []commands.Reply {
	out := make([]commands.Reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = svc.Handle(context.Background(), r) })
	}
	wg.Wait()
	return out
}

// A typed extend delivered several times (Slack's retry of a slow ack: the
// same trigger_id under new envelope ids), at once and after the first,
// moves the order's end once, and every delivery gets the first answer.
func TestKeyedExtendActsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	svc := h.service()
	ctx := context.Background()
	id := rentRunning(t, svc, "rent 4090 --hours 1")
	before, _ := h.store.GetOrderByCloreID(ctx, id)

	r := keyed("slack:ALICE", fmt.Sprintf("extend %d 2", id), "slack:cmd:trig-extend")
	answers := deliverTimes(svc, r, 4)
	answers = append(answers, svc.Handle(ctx, r))
	public := 0
	for i, a := range answers {
		if a.Status != commands.StatusOK || !strings.Contains(a.Text, "extended by 2 h") || a.Text != answers[0].Text {
			t.Fatalf("delivery %d: %+v, the first %+v", i, a, answers[0])
		}
		if a.Visibility == commands.Public {
			public++
		}
	}
	// The channel sees the answer once; each redelivery's requester alone.
	if public != 1 {
		t.Errorf("%d public answers of 5 deliveries, want 1", public)
	}
	after, _ := h.store.GetOrderByCloreID(ctx, id)
	if got := after.ExpiresAt.Sub(*before.ExpiresAt); got != 2*time.Hour {
		t.Fatalf("the order's end moved by %s, want 2h once", got)
	}
	if n := len(h.eventsOf(t, "order.extended")); n != 1 {
		t.Fatalf("%d order.extended events, want 1", n)
	}
	// The same key from another user is their own request: checked, refused.
	if a := svc.Handle(ctx, keyed("slack:BOB", fmt.Sprintf("extend %d 2", id), "slack:cmd:trig-extend")); a.Status != commands.StatusDenied {
		t.Fatalf("bob's request under alice's key: %+v", a)
	}
	// A new request extends again.
	if a := svc.Handle(ctx, keyed("slack:ALICE", fmt.Sprintf("extend %d 1", id), "slack:cmd:trig-extend-2")); !strings.Contains(a.Text, "extended by 1 h") {
		t.Fatalf("a second extend: %+v", a)
	}
	if err := svc.FlushAudit(ctx); err != nil {
		t.Fatal(err)
	}
	audit, _ := h.store.ListAudit(ctx, commands.AuditFilter{})
	repeated := 0
	for _, e := range audit {
		if strings.Contains(e.Detail, "answered as before") {
			repeated++
		}
	}
	if repeated != 4 {
		t.Errorf("%d audit rows say a redelivery was answered as before, want 4: %+v", repeated, audit)
	}
}

// watch, watch cancel and confirm are keyed too: a redelivery changes
// nothing and gets the first answer.
func TestKeyedWatchAndConfirmActOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.ConfirmAbove = 0.01
	svc := h.service()
	ctx := context.Background()

	set := deliverTimes(svc, keyed("slack:ALICE", "watch 3090 0.2", "slack:cmd:trig-watch"), 3)
	for i, a := range set {
		if a.Status != commands.StatusOK || a.Title != set[0].Title || a.Text != set[0].Text {
			t.Fatalf("watch delivery %d: %+v, first %+v", i, a, set[0])
		}
	}
	ws, _ := h.store.ListWatches(ctx, "slack:ALICE")
	if len(ws) != 1 {
		t.Fatalf("%d watches, want 1", len(ws))
	}
	cancel := keyed("slack:ALICE", fmt.Sprintf("watch cancel %d", ws[0].ID), "slack:cmd:trig-unwatch")
	ends := append(deliverTimes(svc, cancel, 3), svc.Handle(ctx, cancel))
	for i, a := range ends {
		if a.Text != fmt.Sprintf("Watch #%d cancelled.", ws[0].ID) {
			t.Fatalf("watch cancel delivery %d: %+v", i, a)
		}
	}

	ask := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
	if ask.Status != commands.StatusConfirm {
		t.Fatalf("rent: %+v", ask)
	}
	confirm := keyed("slack:ALICE", "confirm "+ask.JobID, "slack:cmd:trig-confirm")
	oks := append(deliverTimes(svc, confirm, 3), svc.Handle(ctx, confirm))
	for i, a := range oks {
		if a.Status != commands.StatusQueued || a.JobID != ask.JobID || a.Text != oks[0].Text {
			t.Fatalf("confirm delivery %d: %+v, first %+v", i, a, oks[0])
		}
	}
	// The Rent now button's key (a click on one message) acts once too.
	ask2 := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
	click := commands.Request{Platform: commands.PlatformSlack, User: "slack:ALICE", Channel: "C1",
		Action: &commands.Action{ID: "confirm:" + ask2.JobID, Value: ask2.JobID}, IdempotencyKey: "slack:click:confirm@C1/1"}
	clicks := append(deliverTimes(svc, click, 2), svc.Handle(ctx, click))
	for i, a := range clicks {
		if a.Status != commands.StatusQueued || a.Text != clicks[0].Text {
			t.Fatalf("Rent now delivery %d: %+v, first %+v", i, a, clicks[0])
		}
	}
}

// policy.max_watches_per_user is counted in the transaction that inserts
// a watch: requests at once cannot pass it together.
func TestWatchLimitAtomic(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.MaxWatchesPerUser = 3
	svc := h.service()
	var wg sync.WaitGroup
	replies := make([]commands.Reply, 12)
	for i := range replies {
		wg.Go(func() {
			replies[i] = svc.Handle(context.Background(), keyed("slack:ALICE", "watch 3090 0.2", fmt.Sprint("slack:cmd:w", i)))
		})
	}
	wg.Wait()
	ok, denied := 0, 0
	for _, r := range replies {
		switch r.Status {
		case commands.StatusOK:
			ok++
		case commands.StatusDenied:
			denied++
			if !strings.Contains(r.Text, "the limit is 3") {
				t.Errorf("refusal: %+v", r)
			}
		}
	}
	if ok != 3 || denied != 9 {
		t.Fatalf("%d watches set, %d refused; want 3 and 9", ok, denied)
	}
}

// A refusal to act on another user's order names nobody: status hides
// others' orders from a non-admin.
func TestRefusalsNameNobody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket)
	svc := h.service()
	ctx := context.Background()
	id := rentRunning(t, svc, "rent 4090 --hours 1")
	for _, text := range []string{fmt.Sprintf("cancel %d", id), fmt.Sprintf("extend %d 1", id)} {
		r := svc.Handle(ctx, req("slack:BOB", text))
		if r.Status != commands.StatusDenied || !strings.Contains(r.Text, "not yours") {
			t.Errorf("%s by bob: %+v", text, r)
		}
		if strings.Contains(r.Text+r.Title, "ALICE") {
			t.Errorf("%s by bob names the renter: %q", text, r.Text)
		}
	}
	if r := svc.CheckCancel(ctx, req("slack:BOB", ""), id); r == nil || strings.Contains(r.Text, "ALICE") {
		t.Errorf("CheckCancel for bob: %+v", r)
	}
	h.policy.ConfirmAbove = 0.01
	svc2 := h.service()
	ask := svc2.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
	if r := svc2.ConfirmJob(ctx, req("slack:BOB", ""), ask.JobID); r.Status != commands.StatusDenied || strings.Contains(r.Text, "ALICE") {
		t.Errorf("bob confirming alice's rent: %+v", r)
	}
}
