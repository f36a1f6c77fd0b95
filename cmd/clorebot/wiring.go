package main

import (
	"log/slog"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/config"
)

// policyFrom maps the configuration's policy section, and the roles of the
// webhook keys, to the command layer's policy.
func policyFrom(cfg *config.Config) commands.Policy {
	p := cfg.Policy
	role, _ := commands.ParseRole(p.DefaultRole) // validated by config
	out := commands.Policy{
		Admins: append([]string(nil), p.Admins...), Renters: append([]string(nil), p.Renters...),
		Viewers: append([]string(nil), p.Viewers...), DefaultRole: role,
		MaxPricePerHour: p.MaxPricePerHour, MaxOrdersPerHour: p.MaxOrdersPerHour,
		MaxActiveOrders: p.MaxActiveOrders, MaxTeamActiveOrders: p.MaxTeamActiveOrders,
		MaxHourlySpend: p.MaxHourlySpend, ConfirmAbove: p.ConfirmAbove,
		DefaultHours: p.DefaultHours, MaxHours: p.MaxHours, MinReliability: p.MinReliability,
		RearmMargin: cfg.Watch.RearmMargin, Cooldown: cfg.Watch.Cooldown.Duration,
		ReminderBefore: p.ReminderBefore.Duration, LowBalanceUSD: cfg.Watch.LowBalanceUSD,
		MaxWatchesPerUser: p.MaxWatchesPerUser,
		MonthlyBudgetUSD:  p.MonthlyBudgetUSD, TeamMonthlyBudgetUSD: p.TeamMonthlyBudgetUSD, BudgetAction: p.BudgetAction,
	}
	for _, k := range cfg.Webhook.Keys {
		id := commands.PlatformWebhook + ":" + k.Name
		for _, r := range k.Roles {
			switch r {
			case "admin":
				out.Admins = append(out.Admins, id)
			case "renter":
				out.Renters = append(out.Renters, id)
			case "viewer":
				out.Viewers = append(out.Viewers, id)
			}
		}
	}
	return out
}

// cloreFallbackFees are the renter fee rates the Clore client prices offers
// with while /renter_fees does not answer (clore.renter_fee_on_demand,
// clore.renter_fee_spot).
func cloreFallbackFees(c config.Clore) *clore.FeeRates {
	return &clore.FeeRates{OnDemand: c.RenterFeeOnDemand, Spot: c.RenterFeeSpot}
}

// sandboxPollInterval spaces the my_orders polls of a provisioning order
// against the sandbox: a quarter of its provision delay (an order is seen
// online soon after it is), between 100 ms and 2 s (the default delay of
// 20 s polls every 2 s).
func sandboxPollInterval(provisionDelay time.Duration) time.Duration {
	return min(max(provisionDelay/4, 100*time.Millisecond), 2*time.Second)
}

// newService builds the command layer over the App's store and Clore client.
func (a *App) newService(n commands.Notifier, log *slog.Logger, opts ...func(*commands.Options)) *commands.Service {
	o := commands.Options{
		Store: a.store, Clore: a.clore, Notifier: n, Logger: log, Policy: policyFrom(a.cfg),
		MarketTTL: a.cfg.Watch.Interval.Duration, ConfirmTTL: a.cfg.Policy.ConfirmTTL.Duration,
		ProvisionTimeout: a.cfg.Clore.ProvisionTimeout.Duration,
		AutoSSH:          a.cfg.Clore.AutoSSHEntrypoint,
	}
	if a.cfg.Clore.Sandbox {
		// The sandbox provisions in seconds: poll it more often than Clore.
		o.PollInterval, o.ReconcileWindow = sandboxPollInterval(a.cfg.Sandbox.ProvisionDelay.Duration), 10*time.Second
	}
	for _, f := range opts {
		f(&o)
	}
	return commands.New(o)
}
