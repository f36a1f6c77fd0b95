package commands

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// GuardUsage is what the guardrails count (DESIGN §5), as the store sees it inside
// the write transaction that would add a job, leaving Guard.Exclude out.
type GuardUsage struct {
	// ActiveOrders and TeamActiveOrders count the requester's and everyone's
	// orders not ended plus rent jobs queued or running (a job awaiting
	// confirmation counts once confirmed). A job that has created its order
	// counts once, as a job, until it ends.
	ActiveOrders, TeamActiveOrders int
	// OrdersLastHour counts the requester's rent jobs accepted (queued, run or
	// ended, not awaiting confirmation nor expired) since Guard.Since.
	OrdersLastHour int
	// TeamUSDPerHour is the team's spend: USD per hour of the orders not
	// ended, plus each queued or running rent job's reservation (Job.USDPerHour).
	TeamUSDPerHour float64

	// The monthly budgets' counts, read only when Guard.Budget is set.
	// SpentMonth is what the ledger recorded of the requester's orders in
	// Guard.Month; TeamSpentMonth of every order of the account (orders
	// made outside clorebot included: they spend the same money).
	SpentMonth, TeamSpentMonth float64
	// Committed is what the requester's orders not ended will still spend
	// until their end (price × time left; an order without an end: until
	// the month's end), plus each queued or running rent job without an
	// order its reservation × its hours; TeamCommitted the same for
	// everyone.
	Committed, TeamCommitted float64
}

// Guard is the check a store runs inside the transaction that inserts (or
// confirms) a rent job, so that concurrent requests cannot together pass a
// cap that each passes alone.
type Guard struct {
	Who     string    // the requester: per-person counts are theirs
	Since   time.Time // start of the orders-per-hour window
	Exclude string    // a job id left out of every count (a job re-checking itself)
	// Team asks for the team totals (TeamActiveOrders, TeamUSDPerHour); without
	// it they are zero and only the requester's rows are read.
	Team bool
	// Check decides from the usage; a non-nil error (a *CapError) aborts the
	// write and is returned unwrapped by the store. It must not block.
	Check func(GuardUsage) error
	// Quote, when set, checks a rent's quote inside the transaction that
	// stores it, before Check counts it: many rents of one model at once,
	// in this process or another on the database, are quoted one offer
	// each.
	Quote *QuoteCheck
	// Budget asks for the monthly budgets' counts (SpentMonth, Committed
	// and the team's), of the calendar month that starts at Month, with
	// the time left of orders counted from Now.
	Budget     bool
	Month, Now time.Time
}

// QuoteCheck is a rent's quote, checked again in the transaction that
// stores its job against what the database says other rents have spoken
// for: quoted to rent jobs still queued or running, held by one, taken
// since TakenSince, or refused as unavailable within UnavailableFor.
// It is data: the store decides nothing for the caller, it only says
// whether the quote still stands.
type QuoteCheck struct {
	// TakenSince is when the marketplace snapshot the quote comes from was
	// asked for: servers taken after it are spoken for.
	TakenSince time.Time
	// Quoted is the server the caller quoted from what was committed when
	// it looked (Store.SpokenServers), recorded with the job. The store
	// checks it alone; when a rent committed since has spoken for it, the
	// job is not inserted and the outcome is refused with a *QuoteTaken
	// that says which Candidates are spoken for: the caller quotes again
	// and submits anew.
	Quoted int64
	// Candidates are the servers the rent could be quoted, best first (a
	// bounded list: the store looks each up when Quoted was taken).
	Candidates []int64
	// Unchecked records Quoted without checking it: the caller's last
	// word when every candidate is spoken for.
	Unchecked bool
}

// QuoteTaken is the refusal of a rent whose quoted server a rent
// committed since the quote has spoken for. Nothing was written; Spoken
// says which of the quote's Candidates are spoken for, as the refusing
// transaction saw them.
type QuoteTaken struct {
	Server int64
	Spoken map[int64]bool
}

func (e *QuoteTaken) Error() string {
	return fmt.Sprintf("server %d was quoted to another rent since this one was quoted", e.Server)
}

// CapError is a guardrail refusal that names the cap (its configuration key),
// the limit and what was counted. Its text is shown to the user.
type CapError struct {
	Cap   string  // policy key, e.g. "max_active_orders"
	Limit float64 // the configured limit
	Have  float64 // what was counted (orders, USD per hour)
	Add   float64 // for spend: what this rent adds
	// Spent and Committed split Have for a budget: spent this month and
	// committed by running orders and queued rents.
	Spent, Committed float64
}

func (e *CapError) Error() string {
	switch e.Cap {
	case "max_active_orders":
		return fmt.Sprintf("you have %g active orders (queued rents included), the limit per person is %g (policy.max_active_orders); cancel one first", e.Have, e.Limit)
	case "max_team_active_orders":
		return fmt.Sprintf("the team has %g active orders (queued rents included), the limit is %g (policy.max_team_active_orders)", e.Have, e.Limit)
	case "max_orders_per_hour":
		return fmt.Sprintf("you created %g orders in the last hour, the limit is %g (policy.max_orders_per_hour)", e.Have, e.Limit)
	case "max_hourly_spend":
		return fmt.Sprintf("this order (%s/h) would take the team's spend to %s/h, above the limit of %s/h (policy.max_hourly_spend)",
			usd(e.Add), usd(e.Have+e.Add), usd(e.Limit))
	case "monthly_budget_usd":
		return fmt.Sprintf("this rent (%s for its hours, fees included) would take your spend this month to %s (spent %s, committed %s), above your monthly budget of %s (policy.monthly_budget_usd); %s left",
			money(e.Add), money(e.Have+e.Add), money(e.Spent), money(e.Committed), money(e.Limit), money(max(e.Limit-e.Have, 0)))
	case "team_monthly_budget_usd":
		return fmt.Sprintf("this rent (%s for its hours, fees included) would take the team's spend this month to %s (spent %s, committed %s), above the team's monthly budget of %s (policy.team_monthly_budget_usd); %s left",
			money(e.Add), money(e.Have+e.Add), money(e.Spent), money(e.Committed), money(e.Limit), money(max(e.Limit-e.Have, 0)))
	}
	return fmt.Sprintf("%s: limit %g reached", e.Cap, e.Limit)
}

// checkPrice applies the per-GPU price cap, which needs no count.
func (p *Policy) checkPrice(usdPerGPU float64) error {
	if p.MaxPricePerHour > 0 && usdPerGPU > p.MaxPricePerHour*(1+1e-9) {
		return deny("%s per GPU per hour is above the team's cap of %s (policy.max_price_per_hour)", usd(usdPerGPU), usd(p.MaxPricePerHour))
	}
	return nil
}

// counts reports whether any counted cap is set.
func (p *Policy) counts() bool {
	return p.MaxActiveOrders > 0 || p.MaxTeamActiveOrders > 0 || p.MaxOrdersPerHour > 0 || p.MaxHourlySpend > 0 || p.budgets()
}

// budgets reports whether a monthly budget is set.
func (p *Policy) budgets() bool {
	return p.MonthlyBudgetUSD > 0 || p.TeamMonthlyBudgetUSD > 0
}

// admitBudget applies the monthly budgets to a rent that would cost cost
// USD in all: spent this month + committed + cost must fit.
func (p *Policy) admitBudget(u GuardUsage, cost float64) error {
	switch {
	case p.MonthlyBudgetUSD > 0 && u.SpentMonth+u.Committed+cost > p.MonthlyBudgetUSD*(1+1e-9):
		return &CapError{Cap: "monthly_budget_usd", Limit: p.MonthlyBudgetUSD, Have: u.SpentMonth + u.Committed, Add: cost,
			Spent: u.SpentMonth, Committed: u.Committed}
	case p.TeamMonthlyBudgetUSD > 0 && u.TeamSpentMonth+u.TeamCommitted+cost > p.TeamMonthlyBudgetUSD*(1+1e-9):
		return &CapError{Cap: "team_monthly_budget_usd", Limit: p.TeamMonthlyBudgetUSD, Have: u.TeamSpentMonth + u.TeamCommitted, Add: cost,
			Spent: u.TeamSpentMonth, Committed: u.TeamCommitted}
	}
	return nil
}

// admit applies the counted caps to a rent adding usdPerHour to the spend.
func (p *Policy) admit(u GuardUsage, usdPerHour float64) error {
	switch {
	case p.MaxActiveOrders > 0 && u.ActiveOrders >= p.MaxActiveOrders:
		return &CapError{Cap: "max_active_orders", Limit: float64(p.MaxActiveOrders), Have: float64(u.ActiveOrders)}
	case p.MaxTeamActiveOrders > 0 && u.TeamActiveOrders >= p.MaxTeamActiveOrders:
		return &CapError{Cap: "max_team_active_orders", Limit: float64(p.MaxTeamActiveOrders), Have: float64(u.TeamActiveOrders)}
	case p.MaxOrdersPerHour > 0 && u.OrdersLastHour >= p.MaxOrdersPerHour:
		return &CapError{Cap: "max_orders_per_hour", Limit: float64(p.MaxOrdersPerHour), Have: float64(u.OrdersLastHour)}
	case p.MaxHourlySpend > 0 && u.TeamUSDPerHour+usdPerHour > p.MaxHourlySpend*(1+1e-9):
		return &CapError{Cap: "max_hourly_spend", Limit: p.MaxHourlySpend, Have: u.TeamUSDPerHour, Add: usdPerHour}
	}
	return nil
}

// guard is the Guard of a rent by who adding usdPerHour to the spend for
// hours (0: no automatic end, counted to the month's end); exclude names
// the job itself when it re-checks. It is nil when no counted cap is set
// (the store then counts nothing).
func (s *Service) guard(who string, usdPerHour, hours float64, exclude string) *Guard {
	return s.guardWith(who, usdPerHour, hours, exclude, nil)
}

// quotedGuard is guard for a rent whose quote q its intake transaction
// checks again.
func (s *Service) quotedGuard(who string, usdPerHour, hours float64, q *QuoteCheck) *Guard {
	return s.guardWith(who, usdPerHour, hours, "", q)
}

func (s *Service) guardWith(who string, usdPerHour, hours float64, exclude string, hook *QuoteCheck) *Guard {
	p := s.policy
	if !p.counts() {
		if hook == nil {
			return nil
		}
		return &Guard{Quote: hook}
	}
	now := s.clock.Now()
	month := monthStart(now)
	return &Guard{Who: who, Since: now.Add(-time.Hour), Exclude: exclude,
		Team:   p.MaxTeamActiveOrders > 0 || p.MaxHourlySpend > 0,
		Budget: p.budgets(), Month: month, Now: now, Quote: hook,
		Check: func(u GuardUsage) error {
			if err := p.admit(u, usdPerHour); err != nil {
				return err
			}
			return p.admitBudget(u, rentCost(usdPerHour, hours, now))
		}}
}

// rentCost is what an order of usdPerHour (the renter fee included) costs
// over hours, or, with no hours (no automatic end), until the end of now's
// month, plus Clore's one-time creation fee.
func rentCost(usdPerHour, hours float64, now time.Time) float64 {
	if hours <= 0 {
		hours = monthStart(now).AddDate(0, 1, 0).Sub(now).Hours()
	}
	return usdPerHour*hours + clore.DefaultCreationFeeUSD
}

// money is a USD amount to the cent, for budgets and spend.
func money(v float64) string {
	return fmt.Sprintf("$%.2f", v)
}

// jobHours is the hours a rent job asked for (0: none, or unreadable).
func jobHours(j Job) float64 {
	var p rentParams
	if json.Unmarshal(j.Params, &p) != nil {
		return 0
	}
	return p.Hours
}
