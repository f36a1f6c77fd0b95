package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// activeStates are the states of an order that costs money or will.
var activeStates = []string{OrderCreating, OrderProvisioning, OrderRunning, OrderCancelling}

func (s *Service) handleStatus(ctx context.Context, req Request, a *StatusArgs) Reply {
	admin := s.policy.Role(req.User, req.Roles...) >= RoleAdmin
	var orders []Order
	if a.OrderID != 0 {
		o, err := s.store.GetOrderByCloreID(ctx, a.OrderID)
		if errors.Is(err, ErrNotFound) || err == nil && o.RequestedBy != req.User && !admin {
			// Someone else's order reads as unknown: ids are not secrets, but
			// what others rent is none of a viewer's business.
			return errorReply(&UsageError{Command: "status", Problem: fmt.Sprintf("no order #%d of yours", a.OrderID)})
		}
		if err != nil {
			return s.fail(ctx, "status", err)
		}
		orders = []Order{o}
	} else {
		f := OrderFilter{States: activeStates, Limit: 25}
		if !admin {
			f.RequestedBy = req.User
		}
		var err error
		if orders, err = s.store.ListOrders(ctx, f); err != nil {
			return s.fail(ctx, "status", err)
		}
	}
	// Stored state only: uptime and spend come from the last background
	// my_orders refresh, never from a call made for this request.
	var live map[int64]clore.Order
	if snap := s.liveOrders.Load(); snap != nil {
		live = snap.orders
	}
	r := Reply{Status: StatusOK, Title: "Orders", Visibility: Ephemeral, Done: true}
	var foreign []Field
	if admin && a.OrderID == 0 {
		foreign = s.foreignOrders(ctx, live)
	}
	if len(orders) == 0 && len(foreign) == 0 {
		r.Text, r.Orders = "No active orders.", []OrderInfo{}
		return r
	}
	now := s.clock.Now()
	for _, o := range orders {
		r.Fields = append(r.Fields, Field{Name: orderName(o), Value: describeOrder(req.Platform, o, live, now, admin)})
		if o.CloreOrderID != nil && (o.State == OrderRunning || o.State == OrderProvisioning) && len(r.Buttons) < 5 {
			r.Buttons = append(r.Buttons, cancelButton(*o.CloreOrderID))
		}
	}
	r.Fields = append(r.Fields, foreign...)
	r.Orders = OrderInfos(orders)
	if a.OrderID != 0 {
		// Only the renter's own status of one order carries its connection
		// details, in the private part: never in the public one, never for
		// an admin looking at someone else's order.
		r.Private = s.statusDetails(ctx, req, orders[0])
	}
	return r
}

func orderName(o Order) string {
	id := "(id pending)"
	if o.CloreOrderID != nil {
		id = fmt.Sprintf("#%d", *o.CloreOrderID)
	}
	return fmt.Sprintf("%s %s ×%d", id, o.GPUModel, o.GPUCount)
}

// describeOrder is one line: state, price, uptime, spend, time left.
func describeOrder(platform string, o Order, live map[int64]clore.Order, now time.Time, showOwner bool) string {
	parts := []string{o.State, usd(o.USDPerHour) + "/h"}
	if o.CloreOrderID != nil {
		if lo, ok := live[*o.CloreOrderID]; ok {
			if lo.CreatedUnix > 0 {
				parts = append(parts, "up "+roundDuration(now.Sub(time.Unix(lo.CreatedUnix, 0))))
			}
			parts = append(parts, "spent "+usd(spentUSD(o, lo)))
		}
	}
	if o.ExpiresAt != nil && (o.State == OrderRunning || o.State == OrderProvisioning) {
		parts = append(parts, roundDuration(o.ExpiresAt.Sub(now))+" left")
	}
	if showOwner {
		parts = append(parts, "by "+mentionOn(platform, o.RequestedBy))
	}
	return strings.Join(parts, " · ")
}

// spentUSD converts what Clore reports as spent (in the order's currency) to
// USD at the order's own rate: spend / price per day = days paid for.
func spentUSD(o Order, lo clore.Order) float64 {
	if lo.Price > 0 {
		return lo.Spend / lo.Price * o.USDPerHour * 24
	}
	return 0
}

func currencyName(c string) string {
	switch c {
	case clore.CurrencyUSD:
		return "USD"
	case clore.CurrencyCLORE:
		return "CLORE"
	case clore.CurrencyBTC:
		return "BTC"
	}
	return c
}

func roundDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Hour {
		return d.Round(time.Minute).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

func cancelButton(id int64) Button {
	return Button{ActionID: fmt.Sprintf("cancel:%d", id), Label: fmt.Sprintf("Cancel #%d", id),
		Confirm: fmt.Sprintf("Cancel order #%d? The server is released and billing stops.", id), Danger: true}
}
