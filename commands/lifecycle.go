package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// lifecycleState is what the lifecycle monitor keeps in memory between
// ticks; everything that must survive a restart is in the store.
type lifecycleState struct {
	mu            sync.Mutex
	walletChecked time.Time // last wallets call, at most one an hour
}

// walletCheckEvery spaces the wallets calls of the low-balance check.
const walletCheckEvery = time.Hour

// lowBalanceEvery is how often wallet.low_balance may be emitted.
const lowBalanceEvery = 24 * time.Hour

// Tick is the watch tick of DESIGN.md §7, run every watch.interval by the
// scheduler: TickMarket, then TickOrders. After downtime the first tick
// covers everything missed once: TTLs that passed are enforced, watches
// are evaluated at the current price.
func (s *Service) Tick(ctx context.Context) error {
	return errors.Join(s.TickMarket(ctx), s.TickOrders(ctx))
}

// TickMarket is the tick's first half: one marketplace fetch, every watch
// evaluated against it. serve delivers what it wrote (watch.triggered)
// before it runs the second half.
func (s *Service) TickMarket(ctx context.Context) error {
	if err := s.RefreshMarket(ctx); err != nil {
		return err
	}
	// The price history after the watches: an alert does not wait for it,
	// and its chart (drawn when it is delivered) has this tick's price.
	return errors.Join(s.EvaluateWatches(ctx), s.RecordPriceHistory(ctx))
}

// TickOrders is the tick's second half, the order lifecycle: one my_orders
// fetch (orders that ended, expired or were outbid at Clore are recorded,
// with what they spent; late orders of uncertain create_orders adopted or
// cancelled), TTL reminders and cancels, the wallet check. The TTL cancels
// run even when my_orders fails (DESIGN §7): they need only the stored
// orders.
func (s *Service) TickOrders(ctx context.Context) error {
	var errs []error
	if err := s.RefreshOrders(ctx); err != nil {
		errs = append(errs, err)
	} else if err := s.adoptLateOrders(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.MonitorOrders(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.checkLowBalance(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// MonitorOrders enforces the TTL of every running order clorebot created
// or adopted: order.expiring policy.ReminderBefore its end (chat: with an
// Extend 1h button), then the cancel at the end and order.expired. Orders
// made outside clorebot are not in the store and never touched. An order
// left cancelling by a TTL cancel that a crash interrupted is cancelled
// again (Clore's cancel is safe to repeat).
func (s *Service) MonitorOrders(ctx context.Context) error {
	orders, err := s.store.ListOrders(ctx, OrderFilter{States: []string{OrderRunning, OrderCancelling}})
	if err != nil {
		return fmt.Errorf("commands: monitor orders: %w", err)
	}
	now := s.clock.Now()
	var errs []error
	for _, o := range orders {
		if o.CloreOrderID == nil || o.ExpiresAt == nil {
			continue
		}
		switch left := o.ExpiresAt.Sub(now); {
		case left <= 0:
			errs = append(errs, s.expireOrder(ctx, o))
		case left <= s.policy.ReminderBefore && o.State == OrderRunning:
			errs = append(errs, s.remindOrder(ctx, o, now))
		}
	}
	return errors.Join(errs...)
}

// expireOrder cancels an order whose TTL passed. It first claims the order
// (running → cancelling, on the condition that its end is still the one
// this tick read): an extend that landed since the tick read the order
// wins and nothing is cancelled; one that comes later finds the order
// cancelling and is refused. No lock is held across the Clore call.
// Repeating it is safe: an order Clore already ended is only recorded.
func (s *Service) expireOrder(ctx context.Context, o Order) error {
	id := *o.CloreOrderID
	if o.State == OrderRunning {
		claimed := o
		claimed.State = OrderCancelling
		err := s.store.UpdateOrderIf(ctx, claimed, OrderRunning, o.ExpiresAt)
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
			s.log.LogAttrs(ctx, slog.LevelInfo, "order changed before its TTL cancel; left running", slog.Int64("order_id", id))
			return nil
		}
		if err != nil {
			return fmt.Errorf("commands: expire order %d: %w", id, err)
		}
		o = claimed
	}
	// Recorded ended only when Clore took the cancel or says the order is
	// over; any other answer (code 2, an outage) leaves it cancelling, and
	// the next tick cancels again.
	err := s.clore.CancelOrder(clore.WithPriority(ctx, clore.Background), id, "")
	if err != nil && !endedAtClore(err) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "TTL cancel not taken by Clore; retried next tick", slog.Int64("order_id", id),
			slog.String("requested_by", o.RequestedBy), slog.Any("error", err))
		return fmt.Errorf("commands: expire order %d: %w", id, err)
	}
	typ, extra := "order.expired", OrderEvent{Reason: Nullable("ttl")}
	o.State = OrderExpired
	if o.Error == duplicateOrder {
		typ, extra.Reason, o.State = "order.cancelled", Nullable("duplicate"), OrderCancelled
	}
	if spend, ok := s.orderSpendUSD(o); ok {
		extra.SpendUSD = usdKnown(spend)
	}
	ev := newEvent(typ, "", &o, extra, s.clock.Now())
	err = s.store.UpdateOrderIf(ctx, o, OrderCancelling, o.ExpiresAt, ev)
	if errors.Is(err, ErrConflict) {
		return nil // a cancel job recorded it meanwhile
	}
	if err != nil {
		return fmt.Errorf("commands: expire order %d: %w", id, err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "order expired and cancelled", slog.Int64("order_id", id),
		slog.String("requested_by", o.RequestedBy))
	return nil
}

// remindOrder writes the order.expiring reminder once per order end; chat
// sinks post it with Extend 1h, webhooks deliver it.
func (s *Service) remindOrder(ctx context.Context, o Order, now time.Time) error {
	ev := newEvent("order.expiring", "", &o, OrderEvent{}, now)
	_, err := s.store.MarkOrderReminded(ctx, o.ID, *o.ExpiresAt, ev)
	return err
}

// handleExtend moves an order's automatic cancel later: from its current
// end, the whole time within policy.MaxHours; renter of the order or admin.
//
// It is keyed by its request (DESIGN §7): the new end and the answer are
// written in one transaction under the request's idempotency key, and a
// redelivery of the request gets that answer and extends nothing more.
func (s *Service) handleExtend(ctx context.Context, req Request, a *ExtendArgs, rec *intakeRecord) Reply {
	if r, ok := s.answeredBefore(ctx, req, rec); ok {
		return r
	}
	notYours := &UsageError{Command: "extend", Problem: fmt.Sprintf("no order #%d of yours", a.OrderID)}
	o, err := s.store.GetOrderByCloreID(ctx, a.OrderID)
	switch {
	case errors.Is(err, ErrNotFound):
		return errorReply(notYours)
	case err != nil:
		return s.fail(ctx, "extend", err)
	case o.RequestedBy != req.User && s.policy.Role(req.User, req.Roles...) < RoleAdmin:
		return errorReply(notYoursDenial("extend", a.OrderID))
	case o.State == OrderProvisioning:
		// Its rent job writes the order when it comes online and would
		// undo an extension made meanwhile: extend once it runs.
		return errorReply(&UsageError{Command: "extend", Problem: fmt.Sprintf("order #%d is still provisioning; extend it once it runs", a.OrderID)})
	case o.State != OrderRunning || o.ExpiresAt == nil:
		return errorReply(&UsageError{Command: "extend", Problem: fmt.Sprintf("order #%d is %s; only a running order can be extended", a.OrderID, o.State)})
	case a.fromEnd != 0 && a.fromEnd != o.ExpiresAt.Unix():
		if r, ok := s.answeredBefore(ctx, req, rec); ok {
			return r // a redelivery, beaten by its first delivery
		}
		return Reply{Status: StatusOK, Visibility: Ephemeral, Done: true,
			Text: fmt.Sprintf("Order #%d was extended already; it now ends at %s.", a.OrderID, timeOn(req.Platform, *o.ExpiresAt, TimeFull))}
	}
	end := o.ExpiresAt.Add(time.Duration(a.Hours * float64(time.Hour)))
	if total := end.Sub(o.CreatedAt).Hours(); s.policy.MaxHours > 0 && total > s.policy.MaxHours*(1+1e-9) {
		return errorReply(&UsageError{Command: "extend", Usage: Usage("extend"), Problem: fmt.Sprintf(
			"extending order #%d by %g h would make it %.1f h in all, above the team's maximum of %g h",
			a.OrderID, a.Hours, total, s.policy.MaxHours)})
	}
	if lo, ok := s.liveOrderSnapshot(a.OrderID); ok && lo.MRL > 0 && lo.CreatedUnix > 0 {
		if limit := time.Unix(lo.CreatedUnix, 0).Add(time.Duration(lo.MRL) * time.Second); end.After(limit) {
			return errorReply(&UsageError{Command: "extend", Problem: fmt.Sprintf(
				"order #%d cannot run past %s: the host's maximum rental length", a.OrderID, timeOn(req.Platform, limit, TimeFull))})
		}
	}
	was := *o.ExpiresAt
	added := int64(math.Round(a.Hours * 3600))
	o.ExpiresAt = &end
	ev := newEvent("order.extended", "", &o,
		OrderEvent{By: Nullable(req.User), AddedSeconds: &added}, s.clock.Now())
	r := Reply{Status: StatusOK, Visibility: Public, Done: true,
		Text: fmt.Sprintf("Order #%d extended by %g h: it is now cancelled automatically at %s.",
			a.OrderID, a.Hours, timeOn(req.Platform, end, TimeFull))}
	// Conditional on the end read above: the TTL's cancel claims the
	// order the same way, so exactly one of them wins; the request's
	// record makes a redelivery that raced this one lose too.
	if err := s.extendOrder(ctx, req, rec, o, was, r, ev); errors.Is(err, ErrRepeated) {
		return s.repeatedAnswer(ctx, req, rec)
	} else if errors.Is(err, ErrConflict) {
		if r, ok := s.answeredBefore(ctx, req, rec); ok {
			return r // a redelivery, beaten by its first delivery
		}
		return errorReply(&UsageError{Command: "extend", Problem: fmt.Sprintf(
			"order #%d changed while it was being extended (its time ran out, or another extend came first); see %s", a.OrderID,
			commandOn(req.Platform, fmt.Sprintf("status %d", a.OrderID)))})
	} else if err != nil {
		return s.fail(ctx, "extend", err)
	}
	return r
}

// extendOrder writes the extended order o (its end was `was`) with ev,
// under req's record answering r when req is keyed.
func (s *Service) extendOrder(ctx context.Context, req Request, rec *intakeRecord, o Order, was time.Time, r Reply, ev Event) error {
	if record := s.requestRecord(req, rec, r); record != nil {
		return s.store.ExtendOrder(ctx, o, was, *record, ev)
	}
	return s.store.UpdateOrderIf(ctx, o, OrderRunning, &was, ev)
}

// checkLowBalance emits wallet.low_balance, at most once a day, while the
// wallets' USD value is below policy.LowBalanceUSD. It asks Clore for the
// wallets at most once an hour.
func (s *Service) checkLowBalance(ctx context.Context) error {
	if s.policy.LowBalanceUSD <= 0 {
		return nil
	}
	now := s.clock.Now()
	l := &s.lifecycle
	l.mu.Lock()
	due := l.walletChecked.IsZero() || now.Sub(l.walletChecked) >= walletCheckEvery
	if due {
		l.walletChecked = now
	}
	l.mu.Unlock()
	if !due {
		return nil
	}
	last, err := s.store.LastEventAt(ctx, "wallet.low_balance")
	if err != nil || !last.IsZero() && now.Sub(last) < lowBalanceEvery {
		return err
	}
	wallets, err := s.readWallets(ctx) // kept for the rents too
	if err != nil {
		return fmt.Errorf("commands: wallets: %w", err)
	}
	total, known := s.walletsUSD(wallets)
	if !known || total >= s.policy.LowBalanceUSD {
		return nil
	}
	data, _ := json.Marshal(LowBalanceEvent{BalanceUSD: RoundUSD(total), ThresholdUSD: RoundUSD(s.policy.LowBalanceUSD),
		Message: fmt.Sprintf("The Clore wallets hold %s, under the %s alert level.", usd(total), usd(s.policy.LowBalanceUSD))})
	return s.store.AppendEvents(ctx, Event{Type: "wallet.low_balance", Data: data, CreatedAt: now})
}

// walletsUSD values the wallets in USD: USD-Blockchain as is, the others at
// Clore's own exchange rate (clore.USDRate), without the renter fee that
// the marketplace's USD prices include (that would value them ~10 % high,
// and the low-balance alert would fire late). known is false when a
// non-empty wallet cannot be valued.
func (s *Service) walletsUSD(wallets []clore.Wallet) (total float64, known bool) {
	var offers []clore.Offer
	if m := s.market.Load(); m != nil {
		offers = m.offers
	}
	known = true
	for _, w := range wallets {
		if w.Balance <= 0 {
			continue
		}
		rate, ok := clore.USDRate(offers, w.Name)
		if !ok {
			known = false
			continue
		}
		total += w.Balance * rate
	}
	return total, known
}

// outbid reports whether an order that ended at Clore was a spot order
// ended before its TTL: someone outbid it.
func (s *Service) outbid(o Order) bool {
	return o.Spot && (o.ExpiresAt == nil || s.clock.Now().Before(*o.ExpiresAt))
}

// endedEvent is the order.expired event of an order that ended at Clore
// (not by clorebot's cancel): reason "outbid" for a spot order ended before
// its TTL, else "ended".
func (s *Service) endedEvent(o Order) Event {
	reason := "ended"
	switch {
	case s.outbid(o):
		reason = "outbid"
	case o.ExpiresAt != nil && !s.clock.Now().Before(*o.ExpiresAt):
		reason = "ttl" // a TTL cancel whose record a crash or a race cut short
	}
	extra := OrderEvent{Reason: Nullable(reason)}
	if spend, ok := s.orderSpendUSD(o); ok {
		extra.SpendUSD = usdKnown(spend)
	}
	return newEvent("order.expired", "", &o, extra, s.clock.Now())
}

// orderSpendUSD is what Clore reported spent on o at the last my_orders
// refresh, in USD (to the cent); false when that refresh did not show it.
func (s *Service) orderSpendUSD(o Order) (float64, bool) {
	if o.CloreOrderID == nil {
		return 0, false
	}
	lo, ok := s.liveOrderSnapshot(*o.CloreOrderID)
	if !ok || lo.Price <= 0 {
		return 0, false
	}
	return math.Round(spentUSD(o, lo)*100) / 100, true
}

// foreignOrders lists, for admins, the account's live orders that clorebot
// neither created nor adopted (made on the Clore website or by another
// tool), from the last my_orders refresh. clorebot never cancels them on
// its own.
func (s *Service) foreignOrders(ctx context.Context, live map[int64]clore.Order) []Field {
	var out []Field
	for id, lo := range live {
		if lo.Expired {
			continue
		}
		if _, err := s.store.GetOrderByCloreID(ctx, id); !errors.Is(err, ErrNotFound) {
			continue
		}
		state := "provisioning"
		if lo.Online {
			state = "running"
		}
		kind := "on-demand"
		if lo.Spot {
			kind = "spot"
		}
		out = append(out, Field{Name: fmt.Sprintf("#%d on server %d", id, lo.ServerID),
			Value: fmt.Sprintf("%s · %s · not created by clorebot (no TTL; cancel %d to end it)", state, kind, id)})
	}
	slices.SortFunc(out, func(a, b Field) int { return strings.Compare(a.Name, b.Name) })
	return out
}
