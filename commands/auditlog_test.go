package commands_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

// While Run runs, commands that create no job are audited in the background;
// FlushAudit makes their rows visible, and a graceful stop (Run returning)
// writes every row still queued — whatever the kind of answer.
func TestAuditRowsOfInstantAnswersSurviveAGracefulStop(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	texts := []string{"help", "market 3090", "status", "frobnicate", "rent", "watch list"}
	users := []string{"slack:ALICE", "slack:VERA", "slack:NOBODY"}
	n := 0
	for _, u := range users {
		for _, text := range texts {
			if r := svc.Handle(context.Background(), req(u, text)); r.JobID != "" {
				t.Fatalf("%s by %s made job %s", text, u, r.JobID)
			}
			n++
		}
	}
	if err := svc.FlushAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := h.store.ListAudit(context.Background(), commands.AuditFilter{})
	if err != nil || len(rows) != n {
		t.Fatalf("after FlushAudit: %d rows (%v), want %d", len(rows), err, n)
	}
	for i := range 100 {
		svc.Handle(context.Background(), req("slack:ALICE", fmt.Sprintf("help %d", i)))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rows, _ = h.store.ListAudit(context.Background(), commands.AuditFilter{})
	if len(rows) != n+100 {
		t.Fatalf("after a graceful stop: %d rows, want %d", len(rows), n+100)
	}
	for i, e := range rows[:len(texts)] {
		if e.Actor != "slack:ALICE" || e.Platform != commands.PlatformSlack || e.Channel != "C1" || e.Outcome == "" {
			t.Errorf("row %d = %+v", i, e)
		}
	}
}
