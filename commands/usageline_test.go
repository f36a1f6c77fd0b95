package commands_test

import (
	"context"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

// The usage line comes with a badly formed command only: not with "no
// offer", a refusal for lack of a role, or an order that is not yours.
func TestUsageLineOnlyForUsageErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	ctx := context.Background()
	tests := []struct {
		user, text string
		usage      bool
	}{
		{"slack:ALICE", "rent", true},
		{"slack:ALICE", "rent 3090 --max-price nope", true},
		{"slack:ALICE", "frobnicate", true},
		{"slack:ALICE", "rent 3090 --max-price 0.0001", false}, // no offer
		{"slack:VERA", "rent 3090", false},                     // viewer
		{"slack:ALICE", "status 12345", false},                 // not hers
		{"slack:ALICE", "cancel 12345", false},
		{"slack:ALICE", "extend 12345", false},
		{"slack:ALICE", "watch cancel 99", false},
	}
	for _, tt := range tests {
		r := svc.Handle(ctx, req(tt.user, tt.text))
		if r.Status != commands.StatusError && r.Status != commands.StatusDenied {
			t.Errorf("%s %q: %+v; want a refusal", tt.user, tt.text, r)
			continue
		}
		if (r.Usage != "") != tt.usage {
			t.Errorf("%s %q: usage %q, want it %v (%s)", tt.user, tt.text, r.Usage, tt.usage, r.Text)
		}
	}
}
