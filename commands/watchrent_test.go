package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// A watch made with rent flags (a webhook price-alert's image, hours,
// use_spot and ssh_key) rents with them when it triggers: its key, so no
// password.
func TestWatchRentsWithItsOwnFlags(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	ctx := context.Background()
	svc := h.service()
	tick(t, svc)
	best := h.market(t).cheapest("RTX 4090")
	rent := commands.WatchRent{Image: "nvidia/cuda:12.4.1-base-ubuntu22.04", Hours: 3, Spot: true,
		SSHKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE ci@example"}
	cmd := commands.Command{Name: "watch", Watch: &commands.WatchArgs{Action: "create", GPU: "RTX 4090",
		MaxPrice: best.OnDemandUSDPerHour * 1.01, Count: 1, Rent: rent}}
	r := svc.Handle(ctx, commands.Request{Platform: commands.PlatformWebhook, User: "webhook:zapier", Channel: "webhook",
		IdempotencyKey: "webhook:zapier:w1", Command: &cmd})
	if r.Status != commands.StatusOK {
		t.Fatalf("watch: %+v", r)
	}
	tick(t, svc)
	w := h.watches(t)[0]
	if w.Rent != rent || w.JobID == "" {
		t.Fatalf("watch after a trigger: %+v", w)
	}
	job, err := h.store.GetJob(ctx, w.JobID)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(job.Params, &p); err != nil {
		t.Fatal(err)
	}
	if p["image"] != rent.Image || p["hours"] != 3.0 || p["spot"] != true || p["ssh_key"] != rent.SSHKey || p["ssh_password"] != nil {
		t.Fatalf("rent params = %s", job.Params)
	}
}

// An auto-rent that the owner's guardrails refuse when it triggers ends the
// watch with the reason, told once: many low ticks past the cooldown bring
// no retry, no second notice and no rent.
func TestRefusedAutoRentEndsTheWatchOnce(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	clock := newFakeClock()
	h.policy.Cooldown = time.Minute
	h.policy.MaxHourlySpend = 0.01 // below any offer: the rent is refused at trigger time
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	ctx := context.Background()
	best := h.market(t).cheapest("RTX 4090")
	r := svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("watch 4090 %.4f --auto-rent", best.OnDemandUSDPerHour*1.01)))
	if r.Status != commands.StatusOK {
		t.Fatalf("watch: %+v", r)
	}
	for range 5 {
		tick(t, svc)
		clock.Advance(2 * time.Minute)
	}
	w := h.watches(t)[0]
	if w.State != commands.WatchRefused || !strings.Contains(w.Error, "spend") || w.JobID != "" || w.Triggers != 1 {
		t.Fatalf("watch after a refused auto-rent: %+v", w)
	}
	alerts := h.alerts(t)
	if len(alerts) != 1 || !strings.Contains(alerts[0].Text, "Not rented: ") || !strings.Contains(alerts[0].Text, "has ended") {
		t.Fatalf("notices: %+v", alerts)
	}
	if n := len(h.cloreOrders(t)); n != 0 {
		t.Fatalf("%d orders", n)
	}
	if evs := h.eventsOf(t, "watch.triggered"); len(evs) != 1 || evs[0]["watch_state"] != commands.WatchRefused ||
		!strings.Contains(fmt.Sprint(evs[0]["refused"]), "spend") {
		t.Fatalf("watch.triggered data: %v", evs)
	}
	if r := svc.Handle(ctx, req("slack:ALICE", "watch list")); r.Text != "No active watches." {
		t.Fatalf("watch list: %+v", r)
	}
}

// The tick that finds an auto-rent watch triggered without its job (the
// process died between the two writes) creates the job only if the owner
// may still rent: the role is checked again, as at the trigger, so that a
// crash between the two writes never lets a former renter rent.
func TestAutoRentRecoveryChecksTheOwnersRole(t *testing.T) {
	t.Parallel()
	for _, stillRenter := range []bool{true, false} {
		t.Run(fmt.Sprintf("renter %v", stillRenter), func(t *testing.T) {
			t.Parallel()
			h := newSandboxHarness(t)
			ctx := context.Background()
			svc := h.service()
			best := h.market(t).cheapest("RTX 4090")
			r := svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("watch 4090 %.4f --auto-rent", best.OnDemandUSDPerHour*1.01)))
			if r.Status != commands.StatusOK {
				t.Fatalf("watch: %+v", r)
			}
			// As a crash after the trigger's first write leaves it.
			w := h.watches(t)[0]
			price := best.OnDemandUSDPerHour
			now := time.Now()
			w.State, w.Triggers, w.JobID, w.LastTriggeredAt, w.LastTriggerPrice = commands.WatchTriggered, 1, "orphanjob01", &now, &price
			if err := h.store.UpdateWatch(ctx, w); err != nil {
				t.Fatal(err)
			}
			if !stillRenter {
				svc = h.service(func(o *commands.Options) { o.Policy.Renters = []string{"slack:BOB"} })
			}
			tick(t, svc)
			job, err := h.store.GetJob(ctx, "orphanjob01")
			w = h.watches(t)[0]
			if stillRenter {
				if err != nil || job.RequestedBy != "slack:ALICE" || w.State != commands.WatchTriggered {
					t.Fatalf("job %+v, %v; watch %+v", job, err, w)
				}
				return
			}
			if err == nil {
				t.Fatalf("a job was created for an owner who lost the renter role: %+v", job)
			}
			if w.State != commands.WatchRefused || !strings.Contains(w.Error, "renter role") {
				t.Fatalf("watch: %+v", w)
			}
		})
	}
}
