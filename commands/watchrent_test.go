package commands_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

// A watch made with rent flags (a webhook price-alert's image, hours,
// use_spot and ssh_key) rents with them when it triggers: its key, so no
// password.
func TestWatchRentsWithItsOwnFlags(t *testing.T) {
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
