package commands

import (
	"context"
	"time"
)

// OrderStore keeps clorebot's record of its Clore orders: the lifecycle
// tick, status, cancel, extend and adoption read and write it.
type OrderStore interface {
	// GetOrderByCloreID returns the order with Clore order id cloreID;
	// ErrNotFound when there is none.
	GetOrderByCloreID(ctx context.Context, cloreID int64) (Order, error)
	// ListOrders returns the orders f selects, newest first.
	ListOrders(ctx context.Context, f OrderFilter) ([]Order, error)
	// UpdateOrderIf writes o (by ID), appending events in the same
	// transaction, when the stored order still has state wantState and end
	// wantEnd (nil: none); otherwise it writes nothing and returns
	// ErrConflict.
	UpdateOrderIf(ctx context.Context, o Order, wantState string, wantEnd *time.Time, events ...Event) error
	// ExtendOrder writes o, the order with a later end, when the stored
	// order is still running with the end wantEnd (else ErrConflict), with
	// events and rec, in one transaction; ErrRepeated, nothing written,
	// when rec's request is recorded already.
	ExtendOrder(ctx context.Context, o Order, wantEnd time.Time, rec RequestRecord, events ...Event) error
	// AdoptOrder inserts o, linked to the rent job jobID, with events, in one
	// transaction; ErrConflict when another order has its Clore order id.
	AdoptOrder(ctx context.Context, o Order, jobID string, events ...Event) (Order, error)
	// MarkOrderReminded records the order.expiring reminder of order id
	// (local id) for the end `end`, appending events with it; false when
	// that reminder was recorded before.
	MarkOrderReminded(ctx context.Context, id int64, end time.Time, events ...Event) (bool, error)
}

// ClaimStore says which servers other rents hold or took and which
// create_orders are still watched for a late order (claims.go, adopt.go),
// so that two rents never choose one server and an uncertain create_order
// is reconciled (DESIGN §7).
type ClaimStore interface {
	// ServerClaims lists the claims that concern a choice by the job jobID at
	// now: the servers other jobs hold (queued or running, lease alive at
	// now) and the servers taken after since.
	ServerClaims(ctx context.Context, jobID string, since, now time.Time) ([]ServerClaim, error)
	// SpokenServers reports which of candidates a new rent's quote leaves
	// out (see QuoteCheck), from what is committed; the intake transaction
	// checks the quote again.
	SpokenServers(ctx context.Context, candidates []int64, takenSince time.Time) (map[int64]bool, error)
	// OpenRentAttempts lists the create_orders not settled and still watched
	// at now (Until after now), oldest first.
	OpenRentAttempts(ctx context.Context, now time.Time) ([]RentAttempt, error)
}
