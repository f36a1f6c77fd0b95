package commands

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Role is what an identity may do.
type Role int

// Roles, weakest first.
const (
	RoleNone Role = iota
	RoleViewer
	RoleRenter
	RoleAdmin
)

func (r Role) String() string {
	return [...]string{"none", "viewer", "renter", "admin"}[r]
}

// ParseRole reads "admin", "renter", "viewer" or "none".
func ParseRole(s string) (Role, error) {
	for r := RoleNone; r <= RoleAdmin; r++ {
		if r.String() == s {
			return r, nil
		}
	}
	return RoleNone, fmt.Errorf("commands: unknown role %q", s)
}

// Policy holds roles and guardrails. The default stance (README): identities
// in no list get DefaultRole (viewer: help, market, their own status);
// renting, cancelling and watching need renter or admin; the operator's own
// command line (cli:*) is admin unless a list names cli identities, because
// whoever runs clorebot there can read its configuration and API key anyway.
type Policy struct {
	Admins, Renters, Viewers []string
	DefaultRole              Role
	// MaxPricePerHour caps the USD per GPU per hour of one order.
	MaxPricePerHour float64
	// MaxOrdersPerHour caps the orders one identity creates in an hour.
	MaxOrdersPerHour int
	// MaxActiveOrders caps one identity's active orders; MaxTeamActiveOrders everyone's.
	MaxActiveOrders, MaxTeamActiveOrders int
	// MaxHourlySpend caps the USD per hour of all active orders together.
	MaxHourlySpend float64
	// ConfirmAbove asks for a confirmation click when an order costs more USD
	// per hour (whole order); 0 never asks.
	ConfirmAbove float64
	// DefaultHours and MaxHours bound an order's time to live.
	DefaultHours, MaxHours float64
	// MinReliability is the default reliability floor (0..1).
	MinReliability float64
	// MaxWatchesPerUser caps one identity's active watches, admins
	// included (0: DefaultMaxWatchesPerUser).
	MaxWatchesPerUser int

	// RearmMargin and Cooldown re-arm a triggered alert watch: once the
	// price rose above target × (1 + RearmMargin), or Cooldown after the
	// trigger (watch.rearm_margin, watch.cooldown).
	RearmMargin float64
	Cooldown    time.Duration
	// ReminderBefore is when order.expiring fires before an order's end.
	ReminderBefore time.Duration
	// LowBalanceUSD: wallet.low_balance is emitted, once a day, while the
	// wallets' USD value is below it; 0 never.
	LowBalanceUSD float64

	// MonthlyBudgetUSD caps what one identity spends in a calendar month
	// (UTC), TeamMonthlyBudgetUSD what the team spends: spent + committed
	// + a new rent must fit (spend.go, guardrails.go); 0 = none.
	MonthlyBudgetUSD, TeamMonthlyBudgetUSD float64
	// BudgetAction is what happens at 100 % of a budget: BudgetNotify
	// ("notify", the default) or BudgetCancel ("cancel": the owner's
	// orders are cancelled too).
	BudgetAction string
}

// Budget actions (policy.budget_action).
const (
	BudgetNotify = "notify"
	BudgetCancel = "cancel"
)

// Role returns the role of an identity: the strongest of what the policy
// gives the identity itself and each of its platform roles
// ("discord-role:<id>").
func (p *Policy) Role(id string, roles ...string) Role {
	best := p.identityRole(id)
	for _, r := range roles {
		if got := p.listedRole(r); got > best {
			best = got
		}
	}
	return best
}

// listedRole is the role a policy list gives a name, RoleNone when unlisted.
func (p *Policy) listedRole(id string) Role {
	switch {
	case slices.Contains(p.Admins, id):
		return RoleAdmin
	case slices.Contains(p.Renters, id):
		return RoleRenter
	case slices.Contains(p.Viewers, id):
		return RoleViewer
	}
	return RoleNone
}

func (p *Policy) identityRole(id string) Role {
	switch {
	case slices.Contains(p.Admins, id):
		return RoleAdmin
	case slices.Contains(p.Renters, id):
		return RoleRenter
	case slices.Contains(p.Viewers, id):
		return RoleViewer
	case strings.HasPrefix(id, PlatformCLI+":") && !p.namesCLI():
		return RoleAdmin
	}
	return p.DefaultRole
}

func (p *Policy) namesCLI() bool {
	for _, list := range [][]string{p.Admins, p.Renters, p.Viewers} {
		for _, id := range list {
			if strings.HasPrefix(id, PlatformCLI+":") {
				return true
			}
		}
	}
	return false
}

// needs is the role each command requires.
func needs(c Command) Role {
	switch c.Name {
	case "help", "market", "status", "spend":
		return RoleViewer // spend: a viewer or renter sees their own, an admin everyone's
	case "watch":
		if c.Watch != nil && c.Watch.Action == "list" {
			return RoleViewer
		}
		return RoleRenter
	}
	return RoleRenter // rent, cancel
}

// denial is a policy refusal; its text is shown to the user.
type denial struct{ msg string }

func (d *denial) Error() string { return d.msg }

func deny(format string, args ...any) error { return &denial{fmt.Sprintf(format, args...)} }

// notYoursDenial refuses to act on another user's order. It names nobody:
// status hides other users' orders from a non-admin, and a refusal must
// not tell them whose it is.
func notYoursDenial(verb string, orderID int64) error {
	return deny("order #%d is not yours; only its renter or an admin may %s it", orderID, verb)
}

// authorize checks the requester's role (with its platform roles) for a command.
func (p *Policy) authorize(id string, c Command, roles ...string) error {
	role, need := p.Role(id, roles...), needs(c)
	if role < need {
		return deny("%s needs the %s role; %s has %s. Ask an admin to add you to policy.%ss.",
			c.Name, need, id, role, need)
	}
	return nil
}

// RoleOf returns the role the service's policy gives an identity.
func (s *Service) RoleOf(id string) Role { return s.policy.Role(id) }
