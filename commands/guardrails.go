package commands

import (
	"context"
	"time"
)

// checkGuardrails applies the team's limits to a rent by who costing
// usdPerHour for the whole order (usdPerGPU per GPU). It runs when the
// command arrives and again right before create_order.
func (s *Service) checkGuardrails(ctx context.Context, who string, usdPerHour, usdPerGPU float64) error {
	p := &s.policy
	if p.MaxPricePerHour > 0 && usdPerGPU > p.MaxPricePerHour*(1+1e-9) {
		return deny("%s per GPU per hour is above the team's cap of %s", usd(usdPerGPU), usd(p.MaxPricePerHour))
	}
	active, err := s.store.ListOrders(ctx, OrderFilter{States: activeStates})
	if err != nil {
		return err
	}
	mine, spend := 0, 0.0
	for _, o := range active {
		spend += o.USDPerHour
		if o.RequestedBy == who {
			mine++
		}
	}
	if p.MaxActiveOrders > 0 && mine >= p.MaxActiveOrders {
		return deny("you have %d active orders, the limit per person is %d; cancel one first", mine, p.MaxActiveOrders)
	}
	if p.MaxTeamActiveOrders > 0 && len(active) >= p.MaxTeamActiveOrders {
		return deny("the team has %d active orders, the limit is %d", len(active), p.MaxTeamActiveOrders)
	}
	if p.MaxOrdersPerHour > 0 {
		n, err := s.store.CountOrdersSince(ctx, who, s.clock.Now().Add(-time.Hour))
		if err != nil {
			return err
		}
		if n >= p.MaxOrdersPerHour {
			return deny("you created %d orders in the last hour, the limit is %d", n, p.MaxOrdersPerHour)
		}
	}
	if p.MaxHourlySpend > 0 && spend+usdPerHour > p.MaxHourlySpend*(1+1e-9) {
		return deny("this order (%s/h) would take the team's spend to %s/h, above the limit of %s/h",
			usd(usdPerHour), usd(spend+usdPerHour), usd(p.MaxHourlySpend))
	}
	return nil
}
