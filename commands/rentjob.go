package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// Steps of a rent job; each is checkpointed before the next begins.
const (
	stepChoose       = ""             // pick an offer
	stepCreating     = "creating"     // about to send create_order (it may have been sent)
	stepCreated      = "created"      // create_order answered (or its outcome is unknown): find the order
	stepProvisioning = "provisioning" // the order exists: wait until it is online
)

// rentCheckpoint is a rent job's progress.
type rentCheckpoint struct {
	Tried     []int64      `json:"tried,omitempty"`
	Attempts  int          `json:"attempts"`
	Offer     *offerChoice `json:"offer,omitempty"`
	SentAt    time.Time    `json:"sent_at,omitzero"`
	Uncertain bool         `json:"uncertain,omitempty"` // create_order's outcome is unknown
	// Code1 is set when create_order's unknown outcome was Clore's opaque code
	// 1, which is also its answer to a required_price that no longer matches.
	Code1    bool      `json:"code1,omitempty"`
	CloreID  int64     `json:"clore_order_id,omitempty"`
	Deadline time.Time `json:"deadline,omitzero"` // provisioning deadline
	Bound    float64   `json:"bound,omitempty"`   // USD per GPU per hour, for a job stored without one
	// Pending are earlier offers whose create_order had an uncertain outcome
	// and showed no order in time: an order of theirs that appears later is
	// the job's (adopted before it sends another create_order).
	Pending []sentOffer `json:"pending,omitempty"`
	// Confirmed is a dearer offer the user confirmed after a fail-over.
	Confirmed *confirmedOffer `json:"confirmed,omitempty"`
}

// sentOffer is an offer and when its create_order was sent.
type sentOffer struct {
	Offer  offerChoice `json:"offer"`
	SentAt time.Time   `json:"sent_at"`
}

// confirmedOffer is a fail-over above the job's price bound that waits for,
// or got, the user's Rent now: the server comes first, and the job may pay
// up to Bound per GPU per hour from then on.
type confirmedOffer struct {
	ServerID int64   `json:"server_id"`
	Bound    float64 `json:"bound"`
}

// maxHoldTries bounds how often a rent chooses again because the server it
// chose was held by another rent in the meantime.
const maxHoldTries = 8

// A rent whose only suitable offers are held by other rents waits for their
// create_orders to answer, looking again every holdPoll, for maxHoldWait at
// most (many rents of one model queue on the create_order limiter).
const (
	holdPoll    = time.Second
	maxHoldWait = 10 * time.Minute
)

// AdoptionWindow is how long after a create_order an order Clore shows on
// its server is still taken for its own (DESIGN §7: 15 minutes).
const AdoptionWindow = 15 * time.Minute

// sent lists the create_orders whose order the job may still find: the
// current offer's (when one was sent) and the pending ones.
func (cp rentCheckpoint) sent() []sentOffer {
	out := slices.Clone(cp.Pending)
	if cp.Offer != nil && !cp.SentAt.IsZero() {
		out = append(out, sentOffer{Offer: *cp.Offer, SentAt: cp.SentAt})
	}
	return out
}

// reconcileSkew allows for clock differences between us and Clore when
// matching an order's creation time to the moment create_order was sent.
const reconcileSkew = 2 * time.Minute

func (r *run) rentState() (rentParams, rentCheckpoint, error) {
	var p rentParams
	var cp rentCheckpoint
	if err := json.Unmarshal(r.job.Params, &p); err != nil {
		return p, cp, fmt.Errorf("commands: rent params: %w", err)
	}
	if len(r.job.Checkpoint) > 0 {
		if err := json.Unmarshal(r.job.Checkpoint, &cp); err != nil {
			return p, cp, fmt.Errorf("commands: rent checkpoint: %w", err)
		}
	}
	return p, cp, nil
}

// rentStep runs the job's current step.
func (r *run) rentStep(ctx context.Context) error {
	p, cp, err := r.rentState()
	if err != nil {
		return r.fail(ctx, "internal error: unreadable job state", nil)
	}
	switch r.job.Step {
	case stepChoose:
		return r.chooseOffer(ctx, p, cp)
	case stepCreating:
		return r.createOrder(ctx, p, cp)
	case stepCreated:
		return r.findCreatedOrder(ctx, p, cp)
	case stepProvisioning:
		return r.provision(ctx, p, cp)
	}
	return r.fail(ctx, "internal error: unknown step "+r.job.Step, nil)
}

// chooseOffer picks the best offer from a fresh marketplace and the wallets,
// re-checks the guardrails and checkpoints the choice before create_order.
// An order that an earlier uncertain create_order made after all is adopted
// instead. An offer above the job's price bound (a fail-over to a dearer
// server) is never rented without the user's confirmation.
func (r *run) chooseOffer(ctx context.Context, p rentParams, cp rentCheckpoint) error {
	s := r.s
	if !p.canLogIn() {
		return r.fail(ctx, noCredentials, nil)
	}
	if len(cp.Pending) > 0 {
		found, offer, err := s.findOrder(ctx, cp.Pending, 0)
		if err != nil {
			return r.retryLater(ctx, err)
		}
		if found != nil {
			return r.adopt(ctx, p, cp, offer, *found)
		}
	}
	offers, err := s.jobOffers(ctx, cp.Attempts > 0)
	if err != nil {
		return r.retryLater(ctx, err)
	}
	marketAt := s.clock.Now()
	if m := s.market.Load(); m != nil {
		marketAt = m.asked
	}
	wallets, err := s.walletBalances(ctx)
	if err != nil {
		return r.retryLater(ctx, err)
	}
	if p.MaxPerGPU == 0 && r.job.USDPerHour > 0 {
		// Stored before rents were bounded: bounded once by its reservation
		// (kept in the checkpoint, so a failover does not raise it).
		if cp.Bound == 0 {
			cp.Bound = r.job.USDPerHour / float64(max(p.Count, 1)) * (1 + priceTolerance)
		}
		p.MaxPerGPU = cp.Bound
	}
	if c := cp.Confirmed; c != nil {
		p.MaxPerGPU, p.Prefer = c.Bound, c.ServerID
	}
	// Servers other rents hold (or found taken since this snapshot) are left
	// to them: N rents of one model aim at N servers, not all at the
	// cheapest. A hold taken between the read and the write is met by the
	// write, and the choice is made again.
	var best offerChoice
	waitHolds := time.Now().Add(maxHoldWait) // real time: it waits on other jobs
	for try := 0; ; try++ {
		limits, err := s.limitsFor(ctx, r.job.ID, marketAt, wallets)
		if err != nil {
			return r.retryLater(ctx, err)
		}
		exclude := append(slices.Clone(cp.Tried), limits.exclude...)
		choices := choose(offers, p.want(exclude), limits.balances)
		if len(choices) == 0 && len(limits.held) > 0 && time.Now().Before(waitHolds) &&
			len(choose(offers, p.want(append(slices.Clone(cp.Tried), limits.taken...)), limits.balances)) > 0 {
			// Only servers other rents hold right now would do: their
			// create_orders answer within seconds, freeing or taking them.
			if err := sleep(ctx, holdPoll); err != nil {
				return err
			}
			continue
		}
		if len(choices) == 0 {
			if dearer, ok := r.dearerOffer(p, cp, exclude, offers, limits.balances); ok {
				return r.askConfirmation(ctx, p, cp, dearer)
			}
			msg := noOfferText(p, offers)
			switch {
			case len(cp.Tried) > 0:
				msg = fmt.Sprintf("Tried %d offer(s); none left within %s per GPU per hour. %s", len(cp.Tried), usd(p.MaxPerGPU), msg)
			case len(choose(offers, p.want(exclude), nil)) > 0:
				msg = "The wallet cannot pay for any suitable offer (not enough balance in an accepted currency, less what rents in flight committed)."
			case len(limits.exclude) > 0 && len(choose(offers, p.want(nil), nil)) > 0:
				msg = fmt.Sprintf("Every suitable offer is being rented by another request (%d held or just taken). %s", len(limits.exclude), msg)
			}
			return r.fail(ctx, msg, nil)
		}
		best = choices[0]
		if err := s.policy.checkPrice(best.USDPerGPU()); err != nil {
			return r.fail(ctx, err.Error(), nil)
		}
		// The re-check before create_order: the counted caps again, with the
		// chosen offer and leaving this job out, in the transaction that
		// records the choice, makes the offer's total the job's reservation,
		// holds the server and records the create_order about to be sent
		// (watched for a late order).
		before, cpBefore := r.job, cp
		cp.Offer, cp.SentAt, cp.Uncertain = &best, s.clock.Now(), false
		r.job.USDPerHour = best.USDPerHour
		r.attempt = &RentAttempt{ServerID: best.ServerID, SentAt: cp.SentAt, Until: cp.SentAt.Add(AdoptionWindow)}
		r.hold = &ServerClaim{ServerID: best.ServerID, Currency: best.Currency, PerHour: best.PricePerDay / 24, Since: marketAt}
		err = r.checkpointGuarded(ctx, stepCreating, cp, s.guard(r.job.RequestedBy, best.USDPerHour, p.Hours, r.job.ID))
		if errors.Is(err, ErrHeld) && try < maxHoldTries {
			r.job, cp = before, cpBefore
			continue
		}
		if c := (*CapError)(nil); errors.As(err, &c) {
			r.job = before
			return r.fail(ctx, c.Error(), nil)
		} else if err != nil {
			return err
		}
		break
	}
	r.notify(ctx, Reply{Status: StatusRunning, Visibility: Public, Text: fmt.Sprintf("Creating: %s ×%d on server %d at %s/h (%s per GPU)…",
		best.Model, best.GPUCount, best.ServerID, usd(best.USDPerHour), usd(best.USDPerGPU()))})
	return nil
}

// dearerOffer is the best offer the job could rent above its price bound
// (the offers within it were taken, by a fail-over's race or by other rents
// of a burst, or the prices moved) but within what the user and the team
// allow (--max-price, the cap): one the user must confirm. Jobs stored
// before the ceiling was kept have none.
func (r *run) dearerOffer(p rentParams, cp rentCheckpoint, exclude []int64, offers []clore.Offer, balances map[string]float64) (offerChoice, bool) {
	if p.Ceiling == nil || p.MaxPerGPU <= 0 {
		return offerChoice{}, false
	}
	w := p.want(exclude)
	w.MaxPerGPU, w.Prefer = *p.Ceiling, 0
	choices := choose(offers, w, balances)
	if len(choices) == 0 || r.s.policy.checkPrice(choices[0].USDPerGPU()) != nil {
		return offerChoice{}, false
	}
	return choices[0], true
}

// askConfirmation stops a fail-over at a dearer offer: the job awaits the
// user's Rent now (with the new price) instead of renting it. Confirmed, it
// prefers that server and may pay up to its price + priceTolerance.
func (r *run) askConfirmation(ctx context.Context, p rentParams, cp rentCheckpoint, dearer offerChoice) error {
	bound := dearer.USDPerGPU() * (1 + priceTolerance)
	if p.Ceiling != nil {
		bound = positiveMin(bound, *p.Ceiling)
	}
	cp.Confirmed = &confirmedOffer{ServerID: dearer.ServerID, Bound: bound}
	r.job.State = JobAwaitingConfirmation
	r.job.USDPerHour = dearer.USDPerHour // what the confirmation's guard counts
	if err := r.checkpoint(ctx, stepChoose, cp, nil); err != nil {
		return err
	}
	reply := confirmReply(r.job, dearer)
	reply.Visibility = Public
	reply.Title = "Confirm the dearer offer"
	gone := "The offers at the price you were shown were taken or moved"
	if len(cp.Tried) > 0 {
		gone = fmt.Sprintf("The offer you were shown is gone (%d tried)", len(cp.Tried))
	}
	reply.Text = fmt.Sprintf("%s. The next, %s ×%d on server %d, costs %s per GPU per hour (%s/h in all%s), above this rent's bound of %s per GPU (the price shown + 10 %%). Nothing is rented unless you confirm within %s.",
		gone, dearer.Model, dearer.GPUCount, dearer.ServerID, usd(dearer.USDPerGPU()), usd(dearer.USDPerHour),
		dearer.creationFeeNote(), usd(p.MaxPerGPU), r.s.o.ConfirmTTL)
	r.notify(ctx, reply)
	return nil
}

// jobOffers is the marketplace snapshot for a rent job. A job, unlike a
// request, may wait on the limiter: it refreshes the snapshot first when
// refresh is set (after a failover: the offer it tried was stale) or when
// there is none yet (a job resumed right after start). A failed refresh
// leaves the current snapshot in use.
func (s *Service) jobOffers(ctx context.Context, refresh bool) ([]clore.Offer, error) {
	if refresh || s.market.Load() == nil {
		if err := s.RefreshMarket(ctx); err != nil {
			if s.market.Load() == nil {
				return nil, err
			}
			s.log.LogAttrs(ctx, slog.LevelWarn, "marketplace refresh for a rent failed; using the snapshot", slog.Any("error", err))
		}
	}
	return s.offers(ctx)
}

// createOrder sends create_order once. Resumed here after a crash, it first
// looks for an order the earlier run may have created.
func (r *run) createOrder(ctx context.Context, p rentParams, cp rentCheckpoint) error {
	if !r.fresh {
		found, offer, err := r.s.findOrder(ctx, cp.sent(), r.s.o.ReconcileWindow)
		if err != nil {
			return r.retryLater(ctx, err)
		}
		if found != nil {
			return r.adopt(ctx, p, cp, offer, *found)
		}
		// The earlier send stays watched (its attempt is open): my_orders
		// may show its order later still.
		cp.SentAt = r.s.clock.Now()
		r.attempt = &RentAttempt{ServerID: cp.Offer.ServerID, SentAt: cp.SentAt, Until: cp.SentAt.Add(AdoptionWindow)}
		// Since zero: a server another rent took since this one chose it is
		// refused.
		r.hold = &ServerClaim{ServerID: cp.Offer.ServerID, Currency: cp.Offer.Currency, PerHour: cp.Offer.PricePerDay / 24}
		err = r.checkpoint(ctx, stepCreating, cp, nil)
		if errors.Is(err, ErrHeld) {
			// Another rent holds the server now (this job's hold lapsed with
			// its crashed run's lease): choose again. The earlier send may
			// still show an order: it stays pending and watched.
			cp.Uncertain = true
			return r.nextOffer(ctx, cp, "another rent took the server while this one was interrupted")
		}
		if err != nil {
			return err
		}
	}
	if !p.canLogIn() {
		return r.fail(ctx, noCredentials, nil)
	}
	o := cp.Offer
	req := clore.CreateOrderRequest{RentingServer: o.ServerID, Type: clore.OrderOnDemand, Currency: o.Currency,
		Image: p.Image, Ports: map[string]string{"22": "tcp"}, SSHPassword: p.SSHPassword, SSHKey: p.SSHKey,
		AutoSSH: r.s.o.AutoSSH}
	if o.Spot {
		req.Type, req.SpotPrice = clore.OrderSpot, o.PricePerDay
	} else {
		req.RequiredPrice = o.PricePerDay // Clore's guard against a price change
	}
	// The one call of a rent at interactive priority: the user asked for it.
	err := r.s.clore.CreateOrder(clore.WithPriority(ctx, clore.Interactive), req)
	switch {
	case err == nil:
		r.s.markRented(o.ServerID)
		r.took = TookOurs
		return r.checkpoint(ctx, stepCreated, cp, nil)
	case clore.OutcomeUnknown(err):
		cp.Uncertain, cp.Code1 = true, errors.Is(err, clore.ErrDatabase)
		r.took = TookOurs // maybe: left out of every choice until a snapshot shows it
		return r.checkpoint(ctx, stepCreated, cp, nil)
	case failover(err):
		r.settle = o.ServerID
		switch {
		case errors.Is(err, clore.ErrServerAlreadyRented):
			// Left out of every rent's choice until a newer snapshot.
			r.s.markRented(o.ServerID)
			r.took = TookTheirs
		case serverUnavailable(err):
			// The marketplace does not show it: left out for a while.
			r.s.markRented(o.ServerID)
			r.took = TookUnavailable
		}
		return r.nextOffer(ctx, cp, cloreReason(err))
	case errors.Is(err, clore.ErrRateLimited):
		return sleep(ctx, 5*time.Second) // not carried out: the step runs again
	case errors.Is(err, clore.ErrNotEnoughBalance):
		r.settle = o.ServerID
		r.s.forgetWallets()
		return r.fail(ctx, fmt.Sprintf("Not enough balance in the %s wallet.", currencyName(o.Currency)), nil)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	r.settle = o.ServerID
	return r.fail(ctx, "Clore refused the order: "+cloreReason(err), nil)
}

// noCredentials ends a rent whose SSH password was wiped before it sent
// create_order (the secret sweep removes it from jobs accepted over 24 h
// ago: one resumed after a long outage): a server nobody can log in to
// would bill for nothing.
const noCredentials = "This rent waited over 24 hours and its SSH password was removed unused; nothing was rented. Ask again."

// canLogIn reports whether the order would have a way in: a password or a
// key.
func (p rentParams) canLogIn() bool { return p.SSHPassword != "" || p.SSHKey != "" }

// failover reports create_order errors after which the next offer is tried:
// Clore's documented refusals that concern this server only.
func failover(err error) bool {
	for _, perServer := range []error{clore.ErrServerAlreadyRented, clore.ErrCurrencyNotAllowed,
		clore.ErrServerOffline, clore.ErrTooLowPrice, clore.ErrServerDontExist, clore.ErrCantRentFromYourself,
		clore.ErrMachineOnGigaspot, clore.ErrAlreadyHaveSpotOrder} {
		if errors.Is(err, perServer) {
			return true
		}
	}
	return false
}

// serverUnavailable reports create_order refusals that say the server
// cannot be rented by anyone now, for a reason the marketplace does not
// show (server-already-rented, which it shows, is not one).
func serverUnavailable(err error) bool {
	for _, e := range []error{clore.ErrServerOffline, clore.ErrServerDontExist,
		clore.ErrMachineOnGigaspot, clore.ErrCantRentFromYourself} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// nextOffer leaves the current offer for the next one, chosen again from a
// fresh marketplace (fresh prices), at most MaxOfferAttempts offers in all.
// An offer whose create_order had an uncertain outcome stays pending: its
// order may still appear, and is then adopted instead of renting another.
func (r *run) nextOffer(ctx context.Context, cp rentCheckpoint, reason string) error {
	if cp.Uncertain {
		cp.Pending = append(cp.Pending, sentOffer{Offer: *cp.Offer, SentAt: cp.SentAt})
	}
	cp.Tried, cp.Attempts, cp.Offer = append(cp.Tried, cp.Offer.ServerID), cp.Attempts+1, nil
	cp.Uncertain, cp.Code1, cp.SentAt, cp.Confirmed = false, false, time.Time{}, nil
	if cp.Attempts >= r.s.o.MaxOfferAttempts {
		return r.fail(ctx, fmt.Sprintf("Gave up after %d offers (last: %s).", cp.Attempts, reason), nil)
	}
	return r.checkpoint(ctx, stepChoose, cp, nil)
}

// cloreReason is Clore's error string, or a short description.
func cloreReason(err error) string {
	var ae *clore.APIError
	if errors.As(err, &ae) && ae.Message != "" {
		return ae.Message
	}
	return userMessage(err)
}

// findCreatedOrder looks for the order create_order made (or an earlier
// uncertain one). It never sends create_order again: an order that does not
// show up fails the job, or after an opaque code 1 moves on to the next
// offer; either way the attempt stays watched for AdoptionWindow, and an
// order that appears later is adopted or cancelled (adoptLateOrders).
func (r *run) findCreatedOrder(ctx context.Context, p rentParams, cp rentCheckpoint) error {
	found, offer, err := r.s.findOrder(ctx, cp.sent(), r.s.o.ReconcileWindow)
	if err != nil {
		return r.retryLater(ctx, err)
	}
	if found == nil {
		if cp.Code1 {
			// An opaque code 1 that showed no order: most likely the price
			// moved under required_price. The next offer is tried; should
			// this one's order appear after all, it is adopted first.
			return r.nextOffer(ctx, cp, "Clore answered code 1 and no order appeared")
		}
		if cp.Uncertain {
			return r.fail(ctx, fmt.Sprintf("Clore did not confirm the order on server %d and it did not appear in my_orders; nothing was rented. Should it appear within %s, it is yours, under its TTL.", cp.Offer.ServerID, AdoptionWindow), nil)
		}
		return r.fail(ctx, fmt.Sprintf("Clore accepted the order on server %d but it did not appear in my_orders; should it appear within %s, it is yours, under its TTL.", cp.Offer.ServerID, AdoptionWindow), nil)
	}
	return r.adopt(ctx, p, cp, offer, *found)
}

// findOrder polls my_orders for an order on a server of sent created since
// its create_order was sent that clorebot does not know yet, for window
// (one look when window is 0). It returns the order and the offer it was
// sent for.
func (s *Service) findOrder(ctx context.Context, sent []sentOffer, window time.Duration) (*clore.Order, offerChoice, error) {
	deadline := time.Now().Add(window)
	delay := window / 8
	for {
		orders, err := s.clore.MyOrders(clore.WithPriority(ctx, clore.Background), true)
		if err != nil {
			return nil, offerChoice{}, err
		}
		var best *clore.Order
		var offer offerChoice
		for i := range orders {
			o := &orders[i]
			j := slices.IndexFunc(sent, func(a sentOffer) bool {
				return a.Offer.ServerID == o.ServerID && !time.Unix(o.CreatedUnix, 0).Before(a.SentAt.Add(-reconcileSkew))
			})
			if j < 0 {
				continue
			}
			if _, err := s.store.GetOrderByCloreID(ctx, o.ID); err == nil {
				continue // another job's order
			} else if !errors.Is(err, ErrNotFound) {
				return nil, offerChoice{}, err
			}
			if best == nil || o.CreatedUnix < best.CreatedUnix {
				best, offer = o, sent[j].Offer
			}
		}
		if best != nil || !time.Now().Add(delay).Before(deadline) {
			return best, offer, nil
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, offerChoice{}, err
		}
		delay = min(delay*3/2, time.Until(deadline))
	}
}

// adopt records the found order, made for offer, and moves on to
// provisioning. Its TTL runs from its creation at Clore.
func (r *run) adopt(ctx context.Context, p rentParams, cp rentCheckpoint, offer offerChoice, co clore.Order) error {
	now := r.s.clock.Now()
	id := co.ID
	created := time.Unix(co.CreatedUnix, 0).UTC()
	expires := created.Add(time.Duration(p.Hours * float64(time.Hour)))
	o := &Order{CloreOrderID: &id, ServerID: co.ServerID, GPUModel: offer.Model, GPUCount: offer.GPUCount,
		Currency: co.Currency, Spot: offer.Spot, PricePerDay: co.Price, USDPerHour: offer.USDPerHour,
		Image: co.Image, RequestedBy: r.job.RequestedBy, ReplyTarget: r.job.ReplyTarget, State: OrderProvisioning,
		CreatedAt: created, ExpiresAt: &expires}
	cp.Offer = &offer
	cp.Pending = slices.DeleteFunc(cp.Pending, func(a sentOffer) bool { return a.Offer.ServerID == offer.ServerID })
	cp.Deadline, cp.CloreID = now.Add(r.s.o.ProvisionTimeout), id
	if err := r.checkpoint(ctx, stepProvisioning, cp, o, r.event("order.created", o, OrderEvent{})); err != nil {
		return err
	}
	r.notify(ctx, Reply{Status: StatusRunning, Visibility: Public, Text: fmt.Sprintf("Provisioning order #%d: %s ×%d at %s/h…",
		id, o.GPUModel, o.GPUCount, usd(o.USDPerHour))})
	return nil
}

// provision waits until the order is online, then delivers the connection
// details privately. An order past its TTL or the provisioning deadline, or
// missing from my_orders, is cancelled (recorded only once Clore took the
// cancel or says it ended): it would bill for nothing.
func (r *run) provision(ctx context.Context, p rentParams, cp rentCheckpoint) error {
	s := r.s
	o, err := s.store.GetOrderByCloreID(ctx, cp.CloreID)
	if err != nil {
		return fmt.Errorf("commands: provisioning order: %w", err)
	}
	id := *o.CloreOrderID
	for {
		live, err := s.liveOrder(ctx, id)
		if err != nil {
			return r.retryLater(ctx, err)
		}
		now := s.clock.Now()
		if live == nil || live.Expired {
			// Ended at Clore: by its renter's (or an admin's) cancel, the
			// stored order says so; that is no failure.
			if stored, err := s.store.GetOrderByCloreID(ctx, id); err == nil && stored.State == OrderCancelled {
				return r.endCancelled(ctx, stored)
			}
		}
		switch {
		case live != nil && live.Expired:
			o.State, o.Error = OrderFailed, "the order ended while provisioning"
			return r.fail(ctx, fmt.Sprintf("Order #%d ended before it came online.", id), &o,
				r.event("order.failed", &o, OrderEvent{Reason: Nullable("ended")}))
		case live == nil:
			return r.cancelProvisioning(ctx, o, OrderFailed, "missing",
				fmt.Sprintf("Order #%d disappeared from Clore's order list before it came online; it was cancelled to be sure.", id))
		case live.Online:
			return r.running(ctx, p, cp, o, *live)
		case o.ExpiresAt != nil && !now.Before(*o.ExpiresAt):
			return r.cancelProvisioning(ctx, o, OrderExpired, "ttl",
				fmt.Sprintf("Order #%d reached its end (%s) before it came online; it was cancelled.", id, timeOn(r.job.Platform, *o.ExpiresAt, TimeFull)))
		case !now.Before(cp.Deadline):
			return r.cancelProvisioning(ctx, o, OrderFailed, "provision_timeout",
				fmt.Sprintf("Order #%d was not online within %s; it was cancelled.", id, s.o.ProvisionTimeout))
		}
		if err := sleep(ctx, s.o.PollInterval); err != nil {
			return err
		}
	}
}

// liveOrder is the order as my_orders shows it now; nil when it is gone.
// It refreshes the shared orders snapshot (RefreshOrders: one call for
// every provisioning job and the lifecycle monitor, which thus runs sooner
// while a rent provisions) at background priority.
func (s *Service) liveOrder(ctx context.Context, id int64) (*clore.Order, error) {
	if err := s.RefreshOrders(ctx); err != nil {
		return nil, err
	}
	if lo, ok := s.liveOrderSnapshot(id); ok {
		return &lo, nil
	}
	// Not in the shared answer: that call may have left before the order
	// was created (a tick's refresh this one joined). Only a call made now
	// may say the order is gone.
	orders, err := s.clore.MyOrders(clore.WithPriority(ctx, clore.Background), true)
	if err != nil {
		return nil, err
	}
	for i := range orders {
		if orders[i].ID == id {
			return &orders[i], nil
		}
	}
	return nil, nil
}

// cancelProvisioning cancels a provisioning order at Clore and ends the job
// with msg, the order recorded in state (failed, or expired for its TTL)
// with reason. A cancel Clore did not take (code 2, an outage) is retried:
// the order is recorded ended only once Clore took the cancel or says the
// order ended.
func (r *run) cancelProvisioning(ctx context.Context, o Order, state, reason, msg string) error {
	id := *o.CloreOrderID
	if err := r.s.clore.CancelOrder(clore.WithPriority(ctx, clore.Background), id, ""); err != nil && !endedAtClore(err) {
		return r.retryLater(ctx, err)
	}
	o.State, o.Error = state, "cancelled while provisioning: "+reason
	typ := "order.failed"
	if state == OrderExpired {
		typ = "order.expired"
	}
	return r.fail(ctx, msg, &o, r.event(typ, &o, OrderEvent{Reason: Nullable(reason)}))
}

// endCancelled ends a rent job whose order was cancelled (a cancel job
// recorded it, with its order.cancelled event) before it came online: the
// job is cancelled, not failed, and the order stays recorded as cancelled.
func (r *run) endCancelled(ctx context.Context, o Order) error {
	msg := fmt.Sprintf("Order #%d was cancelled before it came online; billing stopped.", *o.CloreOrderID)
	r.job.State, r.job.Error = JobCancelled, msg
	if err := r.save(ctx, nil, r.completed(&o)); err != nil {
		return err
	}
	r.notify(ctx, Reply{Status: StatusOK, Text: msg, Visibility: Public, Done: true, JobID: r.job.ID})
	return nil
}

// endedAtClore reports a cancel_order refusal that says the order is over:
// order_not_active (ended already) or order_dont_exist.
func endedAtClore(err error) bool {
	return errors.Is(err, clore.ErrOrderNotActive) || errors.Is(err, clore.ErrOrderDontExist)
}

// running delivers the connection details to the requester only, then
// records the order as running and the job as done.
func (r *run) running(ctx context.Context, p rentParams, cp rentCheckpoint, o Order, live clore.Order) error {
	id := *o.CloreOrderID
	public := Reply{Status: StatusOK, Visibility: Public, Done: true, JobID: r.job.ID,
		Title: fmt.Sprintf("Order #%d is running", id),
		Text: fmt.Sprintf("%s ×%d at %s/h (%s per GPU), until %s. Connection details were sent to %s privately.%s",
			o.GPUModel, o.GPUCount, usd(o.USDPerHour), usd(o.USDPerHour/float64(max(o.GPUCount, 1))),
			timeOn(r.job.Platform, *o.ExpiresAt, TimeFull), mentionOn(r.job.Platform, r.job.RequestedBy),
			seeAgainHint(r.job.Platform, id)),
		Buttons: []Button{cancelButton(id)},
		Private: connectionDetails(live, p),
	}
	o.State = OrderRunning
	r.job.State = JobSucceeded
	r.job.Result, _ = json.Marshal(NewOrderInfo(o))
	// Stored first, under this run's lease: only the one run whose success
	// was stored sends the connection details, so they are never sent twice
	// (a run that lost its lease fails here and sends nothing). A send that
	// fails, or a crash right after the checkpoint, is not retried: the
	// renter reads them again with `status <order-id>` (statusDetails).
	if err := r.checkpoint(ctx, stepProvisioning, cp, &o,
		r.event("order.running", &o, OrderEvent{}), r.completed(&o)); err != nil {
		return err
	}
	r.notify(context.WithoutCancel(ctx), public)
	return nil
}

// connectionDetails are for the requester's eyes only.
func connectionDetails(o clore.Order, p rentParams) *PrivatePart {
	pp := &PrivatePart{Title: fmt.Sprintf("Connect to order #%d", o.ID)}
	if cmd := sshCommand(o); cmd != "" {
		pp.Fields = append(pp.Fields, Field{Name: "SSH", Value: cmd})
	}
	if p.SSHPassword != "" {
		pp.Fields = append(pp.Fields, Field{Name: "Password", Value: p.SSHPassword})
	} else {
		pp.Fields = append(pp.Fields, Field{Name: "Key", Value: "the SSH key you gave"})
	}
	if o.HTTPPub != "" {
		pp.Fields = append(pp.Fields, Field{Name: "HTTP", Value: "https://" + o.HTTPPub})
	}
	if len(pp.Fields) == 0 || !slices.ContainsFunc(pp.Fields, func(f Field) bool { return f.Name == "SSH" }) {
		pp.Text = "Clore has not published an SSH port; see the Clore dashboard."
	}
	return pp
}

// maxCloreFailures is how many Clore failures in a row a rent job meets
// while it chooses its offer before it gives up.
const maxCloreFailures = 20

// retryLater handles an error that a later attempt may not meet (Clore
// unreachable, rate limited): the step runs again after a pause, keeping its
// checkpoint. While the job chooses its offer, maxCloreFailures in a row end
// it. Once create_order may have been sent (creating after a restart,
// created, provisioning), it never gives up on Clore: an order may exist and
// bill, and ending the job would leave it to nobody — no TTL, no
// provisioning deadline, not even the renter's cancel (an order clorebot
// did not record is not theirs). It retries, the pause capped, until Clore
// answers; its lease is kept alive meanwhile.
func (r *run) retryLater(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.job.Attempts++
	if r.job.Attempts > maxCloreFailures && r.job.Step == stepChoose {
		return r.fail(ctx, "Clore kept failing: "+userMessage(err), nil)
	}
	r.s.log.LogAttrs(ctx, slog.LevelWarn, "job step will be retried", slog.String("job_id", r.job.ID),
		slog.String("step", r.job.Step), slog.Int("failures", r.job.Attempts), slog.Any("error", err))
	return sleep(ctx, min(time.Duration(r.job.Attempts), 15)*r.s.o.RetryBackoff)
}
