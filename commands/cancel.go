package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/clorebot/clorebot/clore"
)

// cancelParams is a cancel job's input.
type cancelParams struct {
	CloreOrderID int64 `json:"clore_order_id"`
	// Foreign is set for an order clorebot did not create (admins only).
	Foreign bool `json:"foreign,omitempty"`
}

// handleCancel checks who may cancel the order and queues the job.
func (s *Service) handleCancel(ctx context.Context, req Request, a *CancelArgs, rec *intakeRecord) Reply {
	admin := s.policy.Role(req.User, req.Roles...) >= RoleAdmin
	notYours := &UsageError{Command: "cancel", Problem: fmt.Sprintf("no order #%d of yours", a.OrderID)}
	p := cancelParams{CloreOrderID: a.OrderID}
	o, err := s.store.GetOrderByCloreID(ctx, a.OrderID)
	switch {
	case err == nil && o.RequestedBy != req.User && !admin:
		return errorReply(notYoursDenial("cancel", a.OrderID))
	case err == nil && (o.State == OrderCancelled || o.State == OrderExpired || o.State == OrderFailed):
		return Reply{Status: StatusOK, Text: fmt.Sprintf("Order #%d is already %s.", a.OrderID, o.State), Visibility: Ephemeral, Done: true}
	case errors.Is(err, ErrNotFound):
		// Not clorebot's: the last my_orders refresh says whether the
		// account has it (a request never calls Clore itself).
		if s.liveOrders.Load() == nil {
			return errorReply(ErrWarmingUp)
		}
		if lo, ok := s.liveOrderSnapshot(a.OrderID); !ok || lo.Expired {
			return errorReply(notYours)
		}
		if !admin {
			return errorReply(deny("order #%d was not created by clorebot; only an admin may cancel it", a.OrderID))
		}
		p.Foreign = true
	case err != nil:
		return s.fail(ctx, "cancel", err)
	}
	r, err := s.submit(ctx, req, rec, Job{Kind: JobCancel, State: JobQueued}, p, nil, &a.OrderID, nil, func(job Job, _ bool) Reply {
		return queuedReply(job, fmt.Sprintf("Cancelling order #%d…", a.OrderID))
	})
	if err != nil {
		return s.fail(ctx, "cancel", err)
	}
	return r
}

// cancelStep cancels the order at Clore (safe to repeat) and records it.
func (r *run) cancelStep(ctx context.Context) error {
	var p cancelParams
	if err := json.Unmarshal(r.job.Params, &p); err != nil {
		return r.fail(ctx, "internal error: unreadable job state", nil)
	}
	// Interactive priority: the user asked for this cancel and billing runs
	// until it is done.
	if err := r.s.clore.CancelOrder(clore.WithPriority(ctx, clore.Interactive), p.CloreOrderID, ""); err != nil {
		var ae *clore.APIError
		switch {
		case errors.Is(err, clore.ErrOrderNotActive), errors.Is(err, clore.ErrOrderDontExist):
			return r.cancelEnded(ctx, p) // nothing runs, nothing is billed: done at once
		case errors.Is(err, clore.ErrNotYourOrder):
			return r.fail(ctx, fmt.Sprintf("Order #%d belongs to another Clore account; it was not cancelled.", p.CloreOrderID), nil)
		case errors.Is(err, clore.ErrInvalidInput), errors.As(err, &ae) && ae.Code == clore.CodeSeeError:
			// Clore's answer to this request will not change: do not retry.
			return r.fail(ctx, fmt.Sprintf("Clore refused to cancel order #%d: %s", p.CloreOrderID, cloreReason(err)), nil)
		}
		return r.retryLater(ctx, err)
	}
	var order *Order
	if o, err := r.s.store.GetOrderByCloreID(ctx, p.CloreOrderID); err == nil {
		o.State = OrderCancelled
		order = &o
	} else if !errors.Is(err, ErrNotFound) {
		return r.retryLater(ctx, err)
	}
	if order == nil {
		id := p.CloreOrderID
		order = &Order{CloreOrderID: &id, State: OrderCancelled, RequestedBy: "(not clorebot)"}
	}
	r.job.State = JobSucceeded
	r.job.Result, _ = json.Marshal(NewOrderInfo(*order))
	saveOrder := order
	if order.ID == 0 {
		saveOrder = nil // a foreign order is not recorded, only reported
	}
	if err := r.checkpoint(ctx, "cancelled", p, saveOrder,
		r.event("order.cancelled", order, OrderEvent{By: Nullable(r.job.RequestedBy)}),
		r.completed(order)); err != nil {
		return err
	}
	r.notify(ctx, Reply{Status: StatusOK, Visibility: Public, Done: true, Text: fmt.Sprintf("Order #%d cancelled.", p.CloreOrderID)})
	return nil
}

// cancelEnded finishes a cancel whose order Clore reports as already ended
// (order_not_active) or no longer knows (order_dont_exist): the wanted state
// is reached, so the job succeeds and says so; a stored order that was still
// thought active is recorded as expired.
func (r *run) cancelEnded(ctx context.Context, p cancelParams) error {
	var order *Order
	var events []Event
	o, err := r.s.store.GetOrderByCloreID(ctx, p.CloreOrderID)
	switch {
	case err == nil && o.State != OrderCancelled && o.State != OrderExpired && o.State != OrderFailed:
		o.State = OrderExpired
		order = &o
		events = append(events, r.event("order.expired", order, OrderEvent{Reason: Nullable("ended")}))
	case err != nil && !errors.Is(err, ErrNotFound):
		return r.retryLater(ctx, err)
	}
	r.job.State = JobSucceeded
	ended := Order{CloreOrderID: &p.CloreOrderID, State: OrderExpired}
	if order != nil {
		ended = *order
	}
	r.job.Result, _ = json.Marshal(NewOrderInfo(ended))
	events = append(events, r.completed(order))
	if err := r.checkpoint(ctx, "cancelled", p, order, events...); err != nil {
		return err
	}
	r.notify(ctx, Reply{Status: StatusOK, Visibility: Public, Done: true,
		Text: fmt.Sprintf("Order #%d had already ended; there was nothing to cancel.", p.CloreOrderID)})
	return nil
}

// handleAction answers a button click. The click's user is checked again:
// whoever clicks must be allowed to do what the button does.
func (s *Service) handleAction(ctx context.Context, req Request) Reply {
	kind, arg, _ := strings.Cut(req.Action.ID, ":")
	if kind == "confirm" && reJobID.MatchString(arg) {
		cmd := Command{Name: "confirm", Confirm: &ConfirmArgs{JobID: arg}}
		req.Action, req.Command = nil, &cmd
		return s.Handle(ctx, req)
	}
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		r := errorReply(&UsageError{Problem: fmt.Sprintf("unknown action %q", req.Action.ID)})
		s.audit(ctx, req, "action "+req.Action.ID, r, nil, nil)
		return r
	}
	switch kind {
	case "cancel":
		cmd := Command{Name: "cancel", Cancel: &CancelArgs{OrderID: id}}
		req.Action, req.Command = nil, &cmd
		return s.Handle(ctx, req)
	case "extend":
		from, _ := strconv.ParseInt(req.Action.Value, 10, 64)
		cmd := Command{Name: "extend", Extend: &ExtendArgs{OrderID: id, Hours: 1, fromEnd: from}}
		req.Action, req.Command = nil, &cmd
		return s.Handle(ctx, req)
	case "rent": // Rent now buttons posted before they carried the job id
		rec := &intakeRecord{command: "action " + req.Action.ID}
		r := s.confirmRent(ctx, req, id, rec)
		s.record(ctx, req, rec.command, rec, &r, nil, nil)
		return r
	}
	r := errorReply(&UsageError{Problem: fmt.Sprintf("unknown action %q", req.Action.ID)})
	s.audit(ctx, req, "action "+req.Action.ID, r, nil, nil)
	return r
}

// ConfirmJob confirms a rent that awaits confirmation, as its Rent now button
// does, for front doors without buttons (webhooks): the same checks of who
// confirms, the same audit row.
func (s *Service) ConfirmJob(ctx context.Context, req Request, jobID string) Reply {
	rec := &intakeRecord{command: "confirm " + jobID}
	r := s.confirmJob(ctx, req, jobID, rec)
	s.record(ctx, req, rec.command, rec, &r, nil, nil)
	return r
}

// confirmJob is ConfirmJob without the audit row (Handle writes it).
func (s *Service) confirmJob(ctx context.Context, req Request, jobID string, rec *intakeRecord) Reply {
	var server int64
	if job, err := s.store.GetJob(ctx, jobID); err == nil && job.Kind == JobRent {
		var p rentParams
		if json.Unmarshal(job.Params, &p) == nil {
			server = p.Prefer
		}
		var cp rentCheckpoint
		if len(job.Checkpoint) > 0 && json.Unmarshal(job.Checkpoint, &cp) == nil && cp.Confirmed != nil {
			server = cp.Confirmed.ServerID // a fail-over's confirmation
		}
	}
	req.Action = &Action{ID: "confirm:" + jobID, Value: jobID}
	return s.confirmRent(ctx, req, server, rec)
}

// confirmRent queues a rent that waited for a confirmation click. It is
// keyed by its request: the move to queued and its answer are written in
// one transaction, and a redelivery gets that answer.
func (s *Service) confirmRent(ctx context.Context, req Request, serverID int64, rec *intakeRecord) Reply {
	if r, ok := s.answeredBefore(ctx, req, rec); ok {
		return r
	}
	job, err := s.store.GetJob(ctx, req.Action.Value)
	if errors.Is(err, ErrNotFound) || err == nil && job.Kind != JobRent {
		return errorReply(&UsageError{Problem: "this confirmation is unknown or expired"})
	}
	if err != nil {
		return s.fail(ctx, "rent", err)
	}
	if job.RequestedBy != req.User && s.policy.Role(req.User, req.Roles...) < RoleAdmin {
		return errorReply(deny("this rent is not yours; only its requester or an admin may confirm it"))
	}
	if s.policy.Role(req.User, req.Roles...) < RoleRenter {
		return errorReply(deny("confirming a rent needs the renter role"))
	}
	if job.State != JobAwaitingConfirmation {
		if r, ok := s.answeredBefore(ctx, req, rec); ok {
			return r // a redelivery, beaten by its first delivery
		}
		return Reply{Status: StatusOK, Text: fmt.Sprintf("This rent is already %s.", job.State), JobID: job.ID, Visibility: Ephemeral, Done: true}
	}
	// The caps are counted again, for the renter, in the transaction that
	// queues the job: a confirmed rent counts from now on.
	g := s.guard(job.RequestedBy, job.USDPerHour, jobHours(job), job.ID)
	queued := queuedReply(job, fmt.Sprintf("Confirmed: renting on server %d…", serverID))
	confirmed, err := s.store.ConfirmJobGuarded(ctx, job.ID, g, s.clock.Now().Add(-s.o.ConfirmTTL), s.requestRecord(req, rec, queued))
	if errors.Is(err, ErrRepeated) {
		return s.repeatedAnswer(ctx, req, rec)
	}
	if err != nil {
		return s.fail(ctx, "rent", err)
	}
	switch confirmed.State {
	case JobQueued:
	case JobCancelled:
		return Reply{Status: StatusError, Text: "This rent was not confirmed within " + s.o.ConfirmTTL.String() + "; it expired and nothing was rented. Ask again.",
			JobID: job.ID, Visibility: Ephemeral, Done: true}
	default:
		if r, ok := s.answeredBefore(ctx, req, rec); ok {
			return r // a redelivery, beaten by its first delivery
		}
		return Reply{Status: StatusOK, Text: fmt.Sprintf("This rent is already %s.", confirmed.State), JobID: job.ID, Visibility: Ephemeral, Done: true}
	}
	s.enqueue(job.ID)
	return queued
}
