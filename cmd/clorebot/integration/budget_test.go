package integration_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
)

// The budgets hold under 12 concurrent rents: the monthly budget is
// checked in the transaction that stores each job, so exactly as many
// rents as fit are accepted, whichever path they take.
func TestConcurrentRentsHoldBudgets(t *testing.T) {
	t.Parallel()
	const n = 12
	for _, tc := range []struct {
		name, cap string
		team      bool
		atomic    bool
	}{
		{"per identity, command layer", "monthly_budget_usd", false, false},
		{"team, command layer", "team_monthly_budget_usd", true, false},
		{"per identity, one-transaction intake", "monthly_budget_usd", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(o *sandbox.Options) { o.Servers = 300 })
			h.policy.MaxActiveOrders, h.policy.MaxTeamActiveOrders, h.policy.MaxOrdersPerHour, h.policy.MaxHourlySpend = 0, 0, 0, 0
			ctx := context.Background()
			// One rent's cost, from a first rent (left queued: it counts as committed).
			probe := h.service()
			first := probe.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
			job, err := h.store.GetJob(ctx, first.JobID)
			if err != nil {
				t.Fatalf("probe rent = %+v: %v", first, err)
			}
			cost := job.USDPerHour + clore.DefaultCreationFeeUSD
			budget := job.USDPerHour + 3.5*cost // the probe's commitment (alice's) and 3 more rents
			if tc.atomic {
				budget = 3.5 * cost // webhook:zapier rents: the probe is not theirs
			}
			if tc.team {
				h.policy.TeamMonthlyBudgetUSD = budget
			} else {
				h.policy.MonthlyBudgetUSD = budget
			}
			svc := h.service()
			api := stallAPI(t, svc, func(o *webhook.APIOptions) { o.Dedup, o.AtomicIntake = h.store, true })
			var wg sync.WaitGroup
			var mu sync.Mutex
			accepted, refusals := 0, []string{}
			for i := range n {
				wg.Go(func() {
					var ok bool
					var text string
					if tc.atomic {
						status, body := api.post(t, "/webhook/create-order", `{"gpu_type":"RTX 3090","hours":1}`)
						ok, text = status == http.StatusAccepted, fmt.Sprint(status, " ", body)
					} else {
						user := "slack:ALICE"
						if tc.team && i%2 == 1 {
							user = "slack:BOB"
						}
						r := svc.Handle(ctx, req(user, "rent 3090 --hours 1"))
						ok, text = r.Status == commands.StatusQueued, r.Text
					}
					mu.Lock()
					defer mu.Unlock()
					if ok {
						accepted++
					} else {
						refusals = append(refusals, text)
					}
				})
			}
			wg.Wait()
			// The rents' prices differ (each takes the next cheapest
			// server), so the count accepted is not fixed: what holds is
			// that what they commit stays within the budget, and that
			// the budget refused the rest.
			who := "slack:ALICE"
			if tc.atomic {
				who = "webhook:zapier"
			}
			now := time.Now().UTC()
			u, err := h.store.GuardUsage(ctx, commands.Guard{Who: who, Budget: true, Now: now,
				Month: time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
			committed := u.Committed
			if tc.team {
				committed = u.TeamCommitted
			}
			if accepted < 1 || accepted > 3 || committed > budget || committed+cost < budget-cost {
				t.Fatalf("%d of %d rents accepted, committing $%.4f of a $%.4f budget (one rent about $%.4f); refusals: %q",
					accepted, n, committed, budget, cost, refusals)
			}
			for _, text := range refusals {
				if !strings.Contains(text, tc.cap) {
					t.Errorf("refusal does not name %s: %s", tc.cap, text)
				}
			}
		})
	}
}
