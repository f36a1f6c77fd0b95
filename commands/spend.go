package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// SpendSample is one order's spend as a my_orders refresh showed it: Clore's
// own cumulative figure (spend, plus the creation fee once it is charged),
// in USD, with whom and what it is attributed to.
type SpendSample struct {
	CloreOrderID int64
	// Owner is the identity that rented the order ("slack:U123"); "" for an
	// order made outside clorebot, which is shown to admins only.
	Owner string
	// Door is the front door the rent came from (PlatformSlack, ...); ""
	// outside clorebot.
	Door     string
	GPU      string // canonical model
	GPUCount int
	// CreatedAt is when the order was created at Clore.
	CreatedAt time.Time
	// SpentUSD is what the order spent so far, fees included.
	SpentUSD float64
	// PaidFor is the running time SpentUSD pays for (spend / price per
	// day): the first sample of an order is spread over the days from
	// CreatedAt to CreatedAt + PaidFor (at most the sample's time).
	PaidFor time.Duration
	// Ended: Clore shows the order ended; its spend is final and settled.
	Ended bool
}

// SpendDay is what one owner spent on one GPU model, from one door, on one
// UTC day.
type SpendDay struct {
	Day   time.Time // midnight UTC
	Owner string    // identity; "" outside clorebot
	Door  string
	GPU   string
	USD   float64
}

// BudgetAlert is a budget.warning or budget.exceeded sent once per month,
// scope and owner.
type BudgetAlert struct {
	Month time.Time // first day of the month, UTC
	Scope string    // BudgetScopeUser, BudgetScopeTeam
	Owner string    // identity; "" for the team
	Level string    // BudgetWarning, BudgetExceeded
}

// Budget scopes and alert levels.
const (
	BudgetScopeUser = "user"
	BudgetScopeTeam = "team"
	BudgetWarning   = "warning"
	BudgetExceeded  = "exceeded"
)

// SpendStore is the durable state of the spend ledger, the budgets' alerts
// and the digest's slots; storage.Store implements it. A Service whose
// Store does not implement it keeps no ledger and answers spend with an
// error.
type SpendStore interface {
	// SettledSpendOrders returns the Clore order ids whose final spend is
	// recorded: the ledger never writes them again.
	SettledSpendOrders(ctx context.Context) ([]int64, error)
	// RecordSpend records samples taken at `at`, in one transaction: each
	// sample's difference to the spend recorded before goes to the UTC days
	// it covers (the first sample of an order: from its creation), an
	// Ended sample settles its order, a sample naming an owner moves an
	// order recorded without one to that owner. Samples of settled orders
	// change nothing. It returns the ids settled by now among samples'.
	RecordSpend(ctx context.Context, at time.Time, samples []SpendSample) (settled []int64, err error)
	// SpendDays returns the day sums of the days from `from` to `to`
	// (midnights UTC, to excluded); with owner set, only that owner's.
	SpendDays(ctx context.Context, from, to time.Time, owner string) ([]SpendDay, error)
	// SpendMonth returns what each owner ("" outside clorebot) spent in
	// the calendar month (UTC) that starts at month.
	SpendMonth(ctx context.Context, month time.Time) (map[string]float64, error)
	// MarkBudgetAlert records a with events in one transaction; false (and
	// nothing written) when a was recorded before.
	MarkBudgetAlert(ctx context.Context, a BudgetAlert, at time.Time, events ...Event) (bool, error)

	// ClaimDigestSlot records the digest of slot as about to be posted by
	// owner until `until`: true when it was not recorded, or recorded but
	// not posted and its claim lapsed at now (a crash between recording
	// and posting); false when posted, or claimed by a live process.
	ClaimDigestSlot(ctx context.Context, slot time.Time, owner string, now, until time.Time) (bool, error)
	// MarkDigestPosted records the digest of slot as posted.
	MarkDigestPosted(ctx context.Context, slot, at time.Time) error
	// UnpostedDigestSlots lists the recorded slots not posted whose claim
	// lapsed at now, oldest first.
	UnpostedDigestSlots(ctx context.Context, now time.Time) ([]time.Time, error)
}

// spendLedger is what the Service keeps in memory of the ledger: the
// orders settled (never sampled again), loaded once.
type spendLedger struct {
	mu      sync.Mutex
	loaded  bool
	settled map[int64]struct{}
	// alerted are the budget alerts this process knows were recorded
	// (by it or another): not written again each tick.
	alerted map[BudgetAlert]struct{}
}

// spendStore is the Store's SpendStore, or nil.
func (s *Service) spendStore() SpendStore {
	ss, _ := s.store.(SpendStore)
	return ss
}

// creationFeeAfter is when Clore charges an order's creation fee: once it
// has run for 10 minutes (clore-api.md §10).
const creationFeeAfter = 10 * time.Minute

// recordSpend writes the ledger from the my_orders answer the refresh just
// fetched (no Clore call of its own): every order not settled yet is
// sampled, then the budgets are checked. Its failures are logged, never
// the refresh's: the ledger catches up at the next tick.
func (s *Service) recordSpend(ctx context.Context, live map[int64]clore.Order) {
	ss := s.spendStore()
	if ss == nil {
		return
	}
	if err := s.sampleSpend(ctx, ss, live); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "spend ledger not updated; retried next tick", slog.Any("error", err))
		return
	}
	if err := s.checkBudgets(ctx, ss); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "budgets not checked; retried next tick", slog.Any("error", err))
	}
}

// sampleSpend builds and records the samples of live's unsettled orders.
func (s *Service) sampleSpend(ctx context.Context, ss SpendStore, live map[int64]clore.Order) error {
	l := &s.ledger
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.loaded {
		ids, err := ss.SettledSpendOrders(ctx)
		if err != nil {
			return fmt.Errorf("commands: spend: %w", err)
		}
		l.settled = make(map[int64]struct{}, len(ids))
		for _, id := range ids {
			l.settled[id] = struct{}{}
		}
		l.loaded = true
	}
	var samples []SpendSample
	for id, lo := range live {
		if _, done := l.settled[id]; done || lo.Price <= 0 && lo.Spend <= 0 {
			continue
		}
		sm, err := s.spendSample(ctx, lo)
		if err != nil {
			return err
		}
		samples = append(samples, sm)
	}
	if len(samples) == 0 {
		return nil
	}
	settled, err := ss.RecordSpend(ctx, s.clock.Now(), samples)
	if err != nil {
		return fmt.Errorf("commands: spend: %w", err)
	}
	for _, id := range settled {
		l.settled[id] = struct{}{}
	}
	return nil
}

// spendSample is lo's sample: attributed to the order's renter when
// clorebot created or adopted it, else to nobody.
func (s *Service) spendSample(ctx context.Context, lo clore.Order) (SpendSample, error) {
	sm := SpendSample{CloreOrderID: lo.ID, Ended: lo.Expired,
		GPU: clore.CanonicalGPU(lo.Specs.GPU, lo.Specs.GPURAM), GPUCount: max(len(lo.GPUArray), 1)}
	if lo.CreatedUnix > 0 {
		sm.CreatedAt = time.Unix(lo.CreatedUnix, 0).UTC()
	}
	if lo.Price > 0 {
		sm.PaidFor = time.Duration(lo.Spend / lo.Price * 24 * float64(time.Hour))
	}
	rate := s.currencyUSD(lo.Currency) // USD per unit, without the renter fee
	o, err := s.store.GetOrderByCloreID(ctx, lo.ID)
	switch {
	case err == nil:
		sm.Owner, sm.Door = o.RequestedBy, doorOf(o.RequestedBy)
		sm.GPU, sm.GPUCount = o.GPUModel, max(o.GPUCount, 1)
		sm.SpentUSD = spentUSD(o, lo) // at the order's own rate, as status shows it
		if rate <= 0 && lo.Price > 0 {
			rate = o.USDPerHour * 24 / lo.Price
		}
		if sm.CreatedAt.IsZero() {
			sm.CreatedAt = o.CreatedAt
		}
	case errors.Is(err, ErrNotFound):
		sm.SpentUSD = lo.Spend * rate
	default:
		return sm, fmt.Errorf("commands: spend: order %d: %w", lo.ID, err)
	}
	if sm.PaidFor >= creationFeeAfter {
		sm.SpentUSD += lo.CreationFee * rate
	}
	if sm.CreatedAt.IsZero() {
		sm.CreatedAt = s.clock.Now()
	}
	return sm, nil
}

// currencyUSD is the USD value of one unit of currency at the
// marketplace's rate (USD-Blockchain: 1); 0 when unknown.
func (s *Service) currencyUSD(currency string) float64 {
	var offers []clore.Offer
	if m := s.market.Load(); m != nil {
		offers = m.offers
	}
	if rate, ok := clore.USDRate(offers, currency); ok {
		return rate
	}
	return 0
}

// doorOf is the front door of an identity ("slack:U1" is slack's).
func doorOf(identity string) string {
	door, _, ok := strings.Cut(identity, ":")
	if !ok {
		return ""
	}
	return door
}

// monthStart is the first instant of t's calendar month, UTC.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// dayStart is t's midnight, UTC.
func dayStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
