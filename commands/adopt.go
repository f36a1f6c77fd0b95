package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// duplicateOrder is the Error of an order that appeared late for a rent job
// that had one already (or was cancelled): it is recorded cancelling, with
// its TTL now, so that the lifecycle monitor cancels it at once and again
// every tick until Clore takes the cancel, across restarts.
const duplicateOrder = "duplicate: a late order of an uncertain create_order, for a rent that had one already"

// adoptLateOrders gives every order the last my_orders refresh showed on a
// server a rent job sent create_order to, created within that attempt's
// watch (AdoptionWindow) and recorded by no job, to that job (DESIGN §7):
// adopted, under the job's TTL, when the job ended without an order;
// cancelled, with an audit row and an event, when it has one already or was
// cancelled. A job still in flight (or awaiting confirmation) without an
// order adopts such an order itself before it sends another create_order;
// an order two jobs'
// attempts could claim is left until one of them settles it.
func (s *Service) adoptLateOrders(ctx context.Context) error {
	snap := s.liveOrders.Load()
	if snap == nil {
		return nil
	}
	attempts, err := s.store.OpenRentAttempts(ctx, s.clock.Now())
	if err != nil || len(attempts) == 0 {
		return err
	}
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(snap.orders)) {
		lo := snap.orders[id]
		jobID, ok := lateOrderJob(lo, attempts)
		if !ok {
			continue
		}
		if _, err := s.store.GetOrderByCloreID(ctx, id); err == nil {
			continue
		} else if !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		job, err := s.store.GetJob(ctx, jobID)
		if err != nil {
			errs = append(errs, fmt.Errorf("commands: late order %d: %w", id, err))
			continue
		}
		has, err := s.store.ListOrders(ctx, OrderFilter{JobID: job.ID, Limit: 1})
		if err != nil {
			errs = append(errs, fmt.Errorf("commands: late order %d: %w", id, err))
			continue
		}
		if !terminal(job.State) && len(has) == 0 {
			continue
		}
		errs = append(errs, s.takeLateOrder(ctx, job, lo, len(has) > 0 || job.State == JobCancelled))
	}
	return errors.Join(errs...)
}

// lateOrderJob is the job whose open attempt lo belongs to: on its server,
// created between the send (less the clock skew allowed) and the end of the
// watch. false when none, or when attempts of two jobs match.
func lateOrderJob(lo clore.Order, attempts []RentAttempt) (string, bool) {
	if lo.Expired {
		return "", false
	}
	created := time.Unix(lo.CreatedUnix, 0)
	jobID := ""
	for _, a := range attempts {
		if a.ServerID != lo.ServerID || created.Before(a.SentAt.Add(-reconcileSkew)) || !created.Before(a.Until) {
			continue
		}
		if jobID != "" && jobID != a.JobID {
			return "", false
		}
		jobID = a.JobID
	}
	return jobID, jobID != ""
}

// takeLateOrder records lo as job's: adopted (running, its TTL from its
// creation at Clore and the rent's hours) or, when duplicate, cancelling
// with its TTL now.
func (s *Service) takeLateOrder(ctx context.Context, job Job, lo clore.Order, duplicate bool) error {
	var p rentParams
	var cp rentCheckpoint
	_ = json.Unmarshal(job.Params, &p)
	if len(job.Checkpoint) > 0 {
		_ = json.Unmarshal(job.Checkpoint, &cp)
	}
	offer := offerChoice{ServerID: lo.ServerID, GPUCount: len(lo.GPUArray), USDPerHour: job.USDPerHour}
	if len(p.Models) > 0 {
		offer.Model = p.Models[0]
	}
	for _, a := range cp.sent() {
		if a.Offer.ServerID == lo.ServerID {
			offer = a.Offer
		}
	}
	id := lo.ID
	now := s.clock.Now()
	created := time.Unix(lo.CreatedUnix, 0).UTC()
	end := created.Add(time.Duration(p.Hours * float64(time.Hour)))
	o := Order{CloreOrderID: &id, ServerID: lo.ServerID, GPUModel: offer.Model, GPUCount: offer.GPUCount,
		Currency: lo.Currency, Spot: offer.Spot, PricePerDay: lo.Price, USDPerHour: offer.USDPerHour, Image: lo.Image,
		RequestedBy: job.RequestedBy, ReplyTarget: job.ReplyTarget, State: OrderRunning, CreatedAt: created, ExpiresAt: &end}
	typ, reason, outcome := "order.running", "adopted", "adopted"
	detail := fmt.Sprintf("order #%d appeared on server %d after an uncertain create_order of job %s; adopted, cancelled automatically at %s",
		id, lo.ServerID, job.ID, end.Format(time.RFC3339))
	if duplicate {
		o.State, o.ExpiresAt, o.Error = OrderCancelling, &now, duplicateOrder
		typ, reason, outcome = "order.created", "duplicate", "cancelling"
		detail = fmt.Sprintf("order #%d appeared on server %d after an uncertain create_order of job %s, which %s; cancelling it",
			id, lo.ServerID, job.ID, map[bool]string{true: "was cancelled", false: "has its order already"}[job.State == JobCancelled])
	}
	ev := newEvent(typ, job.ID, &o, OrderEvent{Reason: Nullable(reason)}, now)
	if _, err := s.store.AdoptOrder(ctx, o, job.ID, ev); errors.Is(err, ErrConflict) {
		return nil // a job recorded it meanwhile
	} else if err != nil {
		return fmt.Errorf("commands: late order %d: %w", id, err)
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "late order of an uncertain create_order", slog.Int64("order_id", id),
		slog.String("job_id", job.ID), slog.String("requested_by", job.RequestedBy), slog.String("outcome", outcome))
	price := o.USDPerHour
	_, err := s.store.AppendAudit(ctx, AuditEntry{At: now, Actor: "clorebot", Platform: "clorebot", Command: "late order #" + fmt.Sprint(id),
		Outcome: outcome, OrderID: &id, USDPerHour: &price, Detail: detail})
	return err
}
