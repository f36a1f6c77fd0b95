package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
)

// BudgetEvent is the data of the budget.warning and budget.exceeded
// events (DESIGN §5): whose budget, how much of it is spent this month.
type BudgetEvent struct {
	// Scope is BudgetScopeUser (policy.monthly_budget_usd) or
	// BudgetScopeTeam (policy.team_monthly_budget_usd).
	Scope string `json:"scope"`
	// Owner is the identity whose budget it is; null for the team's.
	Owner     *string `json:"owner"`
	Month     string  `json:"month"` // "2026-12", UTC
	Level     string  `json:"level"` // BudgetWarning (80 %), BudgetExceeded (100 %)
	SpentUSD  float64 `json:"spent_usd"`
	BudgetUSD float64 `json:"budget_usd"`
	Percent   float64 `json:"percent"`
	// Action is policy.budget_action: "cancel" when the owner's orders
	// (the team's, for the team budget) are being cancelled.
	Action string `json:"action"`
	// Message is the notice as chat shows it.
	Message string `json:"message"`
}

// Budget thresholds.
const (
	budgetWarnAt   = 0.8
	budgetExceedAt = 1.0
)

// checkBudgets compares this month's spend, as the ledger has it, with the
// budgets, and emits budget.warning at 80 % and budget.exceeded at 100 %,
// once per month, owner (or the team) and level. With policy.budget_action
// "cancel", an exceeded budget also cancels the orders it covers.
func (s *Service) checkBudgets(ctx context.Context, ss SpendStore) error {
	p := s.policy
	if !p.budgets() {
		return nil
	}
	month := monthStart(s.clock.Now())
	spent, err := ss.SpendMonth(ctx, month)
	if err != nil {
		return fmt.Errorf("commands: budgets: %w", err)
	}
	owners := make([]string, 0, len(spent))
	total := 0.0
	for owner, v := range spent {
		total += v
		if owner != "" {
			owners = append(owners, owner)
		}
	}
	sort.Strings(owners)
	var errs []error
	if p.MonthlyBudgetUSD > 0 {
		for _, owner := range owners {
			errs = append(errs, s.alertBudget(ctx, ss, BudgetAlert{Month: month, Scope: BudgetScopeUser, Owner: owner}, spent[owner], p.MonthlyBudgetUSD))
		}
	}
	if p.TeamMonthlyBudgetUSD > 0 {
		errs = append(errs, s.alertBudget(ctx, ss, BudgetAlert{Month: month, Scope: BudgetScopeTeam}, total, p.TeamMonthlyBudgetUSD))
	}
	return errors.Join(errs...)
}

// alertBudget emits a's levels that spent reached and that were not
// emitted this month.
func (s *Service) alertBudget(ctx context.Context, ss SpendStore, a BudgetAlert, spent, budget float64) error {
	for _, lv := range []struct {
		level string
		at    float64
	}{{BudgetWarning, budgetWarnAt}, {BudgetExceeded, budgetExceedAt}} {
		if spent < budget*lv.at*(1-1e-9) {
			return nil
		}
		a.Level = lv.level
		if s.ledger.wasAlerted(a) {
			continue
		}
		ev, err := s.budgetEvent(ctx, a, spent, budget)
		if err != nil {
			return err
		}
		sent, err := ss.MarkBudgetAlert(ctx, a, s.clock.Now(), ev)
		if err != nil {
			return fmt.Errorf("commands: budget %s %s: %w", a.Scope, a.Level, err)
		}
		s.ledger.markAlerted(a)
		if sent {
			s.log.LogAttrs(ctx, slog.LevelInfo, "budget alert", slog.String("scope", a.Scope), slog.String("owner", a.Owner),
				slog.String("level", a.Level), slog.Float64("spent_usd", RoundUSD(spent)), slog.Float64("budget_usd", budget))
		}
		if sent && a.Level == BudgetExceeded && s.policy.BudgetAction == BudgetCancel {
			s.cancelForBudget(ctx, a)
		}
	}
	return nil
}

// wasAlerted reports whether a is known to be recorded.
func (l *spendLedger) wasAlerted(a BudgetAlert) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.alerted[a]
	return ok
}

// markAlerted notes a as recorded; a new month forgets the last one's.
func (l *spendLedger) markAlerted(a BudgetAlert) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.alerted == nil {
		l.alerted = map[BudgetAlert]struct{}{}
	}
	for k := range l.alerted {
		if !k.Month.Equal(a.Month) {
			delete(l.alerted, k)
		}
	}
	l.alerted[a] = struct{}{}
}

// budgetEvent is a's event. It names the owner's newest order, so that
// the chat sinks post it where the owner rented it (the order's thread);
// the team's names none (subscribers and notification channels get it).
func (s *Service) budgetEvent(ctx context.Context, a BudgetAlert, spent, budget float64) (Event, error) {
	d := BudgetEvent{Scope: a.Scope, Month: a.Month.Format("2006-01"), Level: a.Level,
		SpentUSD: RoundUSD(spent), BudgetUSD: RoundUSD(budget), Percent: math.Round(spent/budget*1000) / 10, Action: s.budgetAction()}
	whose, key := "Your", "policy.monthly_budget_usd"
	if a.Scope == BudgetScopeTeam {
		whose, key = "The team's", "policy.team_monthly_budget_usd"
	} else {
		owner := a.Owner
		d.Owner = &owner
	}
	d.Message = fmt.Sprintf("%s spend this month is %s, %.0f %% of the monthly budget of %s (%s).", whose, money(spent), d.Percent, money(budget), key)
	if a.Level == BudgetExceeded {
		d.Message += " Rents that would pass it are refused."
		if d.Action == BudgetCancel {
			d.Message += " The orders it covers are being cancelled (policy.budget_action = \"cancel\")."
		}
	}
	ev := Event{Type: "budget." + a.Level, CreatedAt: s.clock.Now()}
	if a.Scope == BudgetScopeUser {
		orders, err := s.store.ListOrders(ctx, OrderFilter{RequestedBy: a.Owner, Limit: 1})
		if err != nil {
			return Event{}, fmt.Errorf("commands: budget event: %w", err)
		}
		if len(orders) > 0 && orders[0].CloreOrderID != nil {
			ev.OrderID = orders[0].CloreOrderID
		}
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return Event{}, fmt.Errorf("commands: budget event: %w", err)
	}
	ev.Data = raw
	return ev, nil
}

// budgetAction is policy.budget_action with its default.
func (s *Service) budgetAction() string {
	if s.policy.BudgetAction == BudgetCancel {
		return BudgetCancel
	}
	return BudgetNotify
}

// cancelForBudget cancels the running orders an exceeded budget covers
// (the owner's; every order clorebot made, for the team's) through the
// normal cancel path: a cancel job per order, as the owner, audited with
// "budget" as the actor it acted through. Its key is the month's alert and
// the order, so a repeated call cancels nothing twice. Failures are logged:
// the budget's refusal of new rents does not depend on them.
func (s *Service) cancelForBudget(ctx context.Context, a BudgetAlert) {
	orders, err := s.store.ListOrders(ctx, OrderFilter{RequestedBy: a.Owner,
		States: []string{OrderCreating, OrderProvisioning, OrderRunning}})
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "budget cancel: orders not listed", slog.Any("error", err))
		return
	}
	for _, o := range orders {
		if o.CloreOrderID == nil || o.RequestedBy == "" {
			continue
		}
		id := *o.CloreOrderID
		r := s.Handle(ctx, Request{Platform: PlatformCLI, User: o.RequestedBy, Via: "budget", Channel: "policy.budget_action",
			Command:        &Command{Name: "cancel", Cancel: &CancelArgs{OrderID: id}},
			IdempotencyKey: fmt.Sprintf("budget:%s:%s:%s:%d", a.Month.Format("2006-01"), a.Scope, a.Owner, id)})
		if r.Status == StatusError || r.Status == StatusDenied {
			s.log.LogAttrs(ctx, slog.LevelWarn, "budget cancel refused", slog.Int64("order_id", id), slog.String("reason", r.Text))
		}
	}
}
