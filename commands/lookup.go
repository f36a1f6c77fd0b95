package commands

import (
	"context"
	"errors"
	"fmt"
)

// OrdersOf lists the active orders a requester may act on, newest first:
// their own, or everyone's for an admin. Chat front doors offer them as
// choices (autocomplete); it reads the stored state only, never Clore.
func (s *Service) OrdersOf(ctx context.Context, req Request, limit int) ([]Order, error) {
	f := OrderFilter{States: activeStates, Limit: limit}
	if s.policy.Role(req.User, req.Roles...) < RoleAdmin {
		f.RequestedBy = req.User
	}
	orders, err := s.store.ListOrders(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("commands: orders of %s: %w", req.User, err)
	}
	return orders, nil
}

// CheckCancel answers whether the requester may cancel an order, from the
// stored state only: nil when they may (their order, or any order for an
// admin), else the reply that says why not. Front doors without a native
// confirm dialog ask it before showing their own; the cancel itself checks
// again.
func (s *Service) CheckCancel(ctx context.Context, req Request, orderID int64) *Reply {
	role := s.policy.Role(req.User, req.Roles...)
	if role < RoleRenter {
		r := errorReply(deny("cancel needs the renter role; %s has %s. Ask an admin to add you to policy.renters.", req.User, role))
		return &r
	}
	o, err := s.store.GetOrderByCloreID(ctx, orderID)
	switch {
	case err == nil && o.RequestedBy != req.User && role < RoleAdmin:
		r := errorReply(notYoursDenial("cancel", orderID))
		return &r
	case errors.Is(err, ErrNotFound) && role < RoleAdmin:
		r := errorReply(&UsageError{Command: "cancel", Problem: fmt.Sprintf("no order #%d of yours", orderID)})
		return &r
	case err != nil && !errors.Is(err, ErrNotFound):
		r := s.fail(ctx, "cancel", err)
		return &r
	}
	return nil
}

// Permits reports whether the requester's role lets them run req's
// command. Parse errors and clicks count as permitted: Handle answers
// them. A front door that acknowledges job commands publicly before
// running them (Discord) asks first, so that a refusal is answered to the
// requester alone instead of a public "thinking…" then taken back. It
// neither audits nor writes: Handle, which the front door then calls, does.
func (s *Service) Permits(req Request) bool {
	if req.Action != nil {
		return true
	}
	cmd, err := req.Parsed()
	return err != nil || s.policy.authorize(req.User, cmd, req.Roles...) == nil
}
