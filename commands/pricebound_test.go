package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

// scaleAll multiplies every price of the marketplace by f.
func (m *market) scaleAll(f float64) {
	for _, s := range m.servers {
		price, _ := s.(map[string]any)["price"].(map[string]any)
		for _, k := range []string{"on_demand", "spot", "usd"} {
			if p, ok := price[k].(map[string]any); ok {
				for c, v := range p {
					if x, ok := v.(float64); ok {
						p[c] = x * f
					}
				}
			}
		}
	}
}

// A rent never pays more than the user was shown (or confirmed) plus the
// tolerance, even without any price cap: the quoted offer is gone and the
// marketplace moved before the job ran.
func TestRentNeverPaysAboveWhatWasShown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		confirm bool    // the rent asks for confirmation and is confirmed
		scale   float64 // every price moves by this factor before the job runs
		rented  bool
	}{
		{"queued, prices ×15: asks again, nothing rented", false, 15, false},
		{"confirmed, prices ×4: asks again, nothing rented", true, 4, false},
		{"queued, prices +5%: rents within the tolerance", false, 1.05, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newSandboxHarness(t)
			h.policy.MaxPricePerHour, h.policy.MaxHourlySpend = 0, 0
			m := h.market(t)
			cheapest := m.cheapest("RTX 4090").OnDemandUSDPerHour
			h.policy.ConfirmAbove = cheapest * 5 // the quote is well below: no confirmation
			if tt.confirm {
				h.policy.ConfirmAbove = cheapest / 100
			}
			svc := h.service()
			ctx := context.Background()
			r := svc.Handle(ctx, req("slack:ALICE", "rent 4090 --hours 1"))
			if tt.confirm {
				if r.Status != commands.StatusConfirm {
					t.Fatalf("rent = %+v, want a confirmation", r)
				}
				if r = svc.ConfirmJob(ctx, req("slack:ALICE", ""), r.JobID); r.Status != commands.StatusQueued {
					t.Fatalf("confirm = %+v", r)
				}
			} else if r.Status != commands.StatusQueued {
				t.Fatalf("rent = %+v, want queued without confirmation", r)
			}
			queued, err := svc.Job(ctx, r.JobID)
			if err != nil {
				t.Fatal(err)
			}
			m.scaleAll(tt.scale)
			m.serveNext()
			if err := svc.RefreshMarket(ctx); err != nil {
				t.Fatal(err)
			}
			job, err := svc.RunJob(ctx, r.JobID)
			if err != nil {
				t.Fatal(err)
			}
			orders := h.cloreOrders(t)
			if !tt.rented {
				// Nothing is rented: the job asks again, with the new price.
				if job.State != commands.JobAwaitingConfirmation || len(orders) != 0 {
					t.Fatalf("job %s with %d order(s) at the sandbox, want awaiting confirmation and none: %s", job.State, len(orders), job.Error)
				}
				replies := h.replies.all()
				if ask := replies[len(replies)-1]; ask.Status != commands.StatusConfirm || !strings.Contains(ask.Text, "above this rent's bound of $") {
					t.Errorf("the confirmation does not quote the bound and the new price: %+v", ask)
				}
				return
			}
			if job.State != commands.JobSucceeded || len(orders) != 1 {
				t.Fatalf("job %s with %d order(s), want one rent: %s", job.State, len(orders), job.Error)
			}
			if job.USDPerHour > queued.USDPerHour*(1+1e-9) {
				t.Errorf("rented at %.4f/h, above the reservation %.4f/h", job.USDPerHour, queued.USDPerHour)
			}
		})
	}
}
