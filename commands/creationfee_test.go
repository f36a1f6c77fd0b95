package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

// A rent states Clore's one-time creation fee next to the hourly price
// (issue 8: prices shown include Clore's fees), on the queued reply and on
// the confirmation a rent above confirm_above asks for.
func TestRentRepliesStateTheCreationFee(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t)
	svc := h.service()
	tick(t, svc)
	r := svc.Handle(context.Background(), req("slack:ALICE", "rent 4090 --hours 1"))
	if r.Status != commands.StatusQueued || !strings.Contains(r.Text, "plus $0.100 once to create the order") {
		t.Fatalf("queued reply %q (%s): want the $0.10 creation fee stated", r.Text, r.Status)
	}
	h.policy.ConfirmAbove = 0.001
	svc = h.service()
	tick(t, svc)
	r = svc.Handle(context.Background(), req("slack:ALICE", "rent 3090 --hours 1"))
	if r.Status != commands.StatusConfirm || !strings.Contains(r.Text, "plus $0.100 once to create the order") {
		t.Fatalf("confirmation %q (%s): want the $0.10 creation fee stated", r.Text, r.Status)
	}
}
