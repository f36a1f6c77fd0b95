package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// A rent job left queued by a process that died (nobody holds its lease,
// no worker was told of it) is found by serve's job sweep, which runs on
// the scheduler, and runs to the end.
func TestServeSweepResumesAJobLeftBehind(t *testing.T) {
	t.Parallel()
	rc := newE2EReceiver(t)
	const id = "leftbehind01"
	base, _ := startServeWith(t, rc.URL+"/sub", func(ctx context.Context, a *App) error {
		params, err := json.Marshal(map[string]any{"query": "RTX 3090", "models": []string{"RTX 3090"}, "count": 1,
			"max_per_gpu": 5, "hours": 1, "image": "cloreai/ubuntu22.04-cuda-12.4", "ssh_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE ci@example"})
		if err != nil {
			return err
		}
		_, _, err = a.store.CreateJob(ctx, commands.Job{ID: id, Kind: commands.JobRent, IdempotencyKey: "crashed:1",
			State: commands.JobQueued, RequestedBy: "webhook:zap", Platform: commands.PlatformWebhook,
			Params: params, USDPerHour: 5, CreatedAt: time.Now()})
		return err
	})
	if job := waitJob(t, base, id); job["state"] != commands.JobSucceeded {
		t.Fatalf("the job left behind ended %v", job)
	}
}
