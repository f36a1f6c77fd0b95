package integration_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

// A webhook renter's `status <order-id>` through POST /webhook/command:
// the webhook front door answers (and records for replays) the public part
// only, so the password stays out of the HTTP answer; webhook rents get
// their details from their callback or GET /webhook/jobs/{id}, which go to
// the key that rented alone.
func TestWebhookStatusAnswerCarriesNoPassword(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	r := req("webhook:zapier", "rent 3090")
	r.Platform = commands.PlatformWebhook
	reply := svc.Handle(context.Background(), r)
	job, err := svc.RunJob(context.Background(), reply.JobID)
	if err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("job = %+v, %v", job, err)
	}
	password := storedPassword(t, h, job.ID)
	if password == "" {
		t.Fatal("the webhook rent's job holds no password")
	}
	api := stallAPI(t, svc)
	code, body := api.post(t, "/webhook/command", fmt.Sprintf(`{"text": "status %d"}`, orderOf(t, job)))
	if code != 200 || !strings.Contains(body, "running") {
		t.Fatalf("status = %d %s", code, body)
	}
	if strings.Contains(body, password) {
		t.Fatalf("the webhook answer to status carries the SSH password: %s", body)
	}
}
