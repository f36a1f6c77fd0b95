package chat

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// EventReply words a lifecycle event for a chat thread or channel. ok is
// false for events a chat sink does not post (job.completed and
// order.created, which the job's own message already shows). The event's
// data is the command layer's own type for it (commands.OrderEvent,
// commands.WatchTriggeredEvent, commands.LowBalanceEvent); it never holds
// secrets.
func EventReply(ev commands.Event) (r commands.Reply, ok bool) {
	r = commands.Reply{Status: commands.StatusOK, Visibility: commands.Public, Done: true}
	switch ev.Type {
	case "watch.triggered":
		var d commands.WatchTriggeredEvent
		_ = json.Unmarshal(ev.Data, &d)
		r.Title = "Price alert"
		r.Text = d.Message
		if r.Text == "" {
			r.Text = "A watched offer" + gpuText(d.GPU, d.Count, d.USDPerHour) + " is available."
		}
		if d.Confirm && d.JobID != nil {
			r.Status = commands.StatusConfirm
			r.Buttons = []commands.Button{{ActionID: "confirm:" + *d.JobID, Label: "Rent now", Value: *d.JobID,
				Confirm: "Rent it now? Your team's limits are checked again.", Danger: true}}
		}
		return r, true
	case "wallet.low_balance":
		var d commands.LowBalanceEvent
		_ = json.Unmarshal(ev.Data, &d)
		r.Text = cmp.Or(d.Message, "The Clore wallet balance is low.")
		return r, true
	case "budget.warning", "budget.exceeded":
		var d commands.BudgetEvent
		_ = json.Unmarshal(ev.Data, &d)
		r.Title = "Budget"
		r.Text = cmp.Or(d.Message, "80 % of a monthly budget is spent.")
		if ev.Type == "budget.exceeded" {
			r.Status, r.Text = commands.StatusFailed, cmp.Or(d.Message, "A monthly budget is spent.")
		}
		return r, true
	}
	var d commands.OrderEvent
	_ = json.Unmarshal(ev.Data, &d)
	order := "the order"
	var id int64
	if oid := cmp.Or(d.Order.ID, ev.OrderID); oid != nil {
		id = *oid
		order = "Order #" + strconv.FormatInt(id, 10)
	}
	switch ev.Type {
	case "order.running":
		r.Text = order + " is running" + orderGPUText(d.Order) + "."
	case "order.failed":
		r.Status, r.Text = commands.StatusFailed, order+" failed"+orText(": ", deref(d.Error), deref(d.Reason))+"."
	case "order.cancelled":
		r.Text = order + " was cancelled" + by(deref(d.By)) + "."
	case "order.expired":
		r.Text = order + " has ended: its time is up."
		switch deref(d.Reason) {
		case "outbid":
			r.Status, r.Text = commands.StatusFailed, order+" was outbid and ended; billing stopped."
		case "ended":
			r.Text = order + " was ended at Clore; billing stopped."
		}
	case "order.expiring":
		r.Text = order + " ends " + endText(d.Order.EndsAt, commands.TimeRelative) + "."
		if id > 0 {
			r.Buttons = []commands.Button{
				{ActionID: "extend:" + strconv.FormatInt(id, 10), Label: "Extend 1 h", Value: endUnix(d.Order.EndsAt)},
				CancelButton(id),
			}
		}
	case "order.extended":
		r.Text = order + " was extended; it now ends " + endText(d.Order.EndsAt, commands.TimeFull) + "."
	default:
		return commands.Reply{}, false
	}
	return r, true
}

// CancelButton is the Cancel button of an order: danger style, with a
// confirmation question.
func CancelButton(orderID int64) commands.Button {
	id := strconv.FormatInt(orderID, 10)
	return commands.Button{ActionID: "cancel:" + id, Label: "Cancel", Danger: true,
		Confirm: "Cancel order #" + id + "? The server is released and billing stops."}
}

// endUnix is the order's end as Unix seconds: the Extend button carries the
// end it extends, so that a second click on one reminder does nothing.
func endUnix(end *time.Time) string {
	if end == nil {
		return ""
	}
	return strconv.FormatInt(end.Unix(), 10)
}

// orderGPUText is ": RTX 4090 ×2 at $0.90/h", "" when the GPU is unknown.
func orderGPUText(o commands.OrderInfo) string {
	if o.GPU == nil {
		return ""
	}
	count := 1
	if o.Count != nil {
		count = *o.Count
	}
	var total float64
	if o.USDPerHour != nil {
		total = *o.USDPerHour
	}
	return gpuText(*o.GPU, count, total)
}

// gpuText is ": <gpu> ×<count>[ at $<usd>/h]", "" without a GPU.
func gpuText(gpu string, count int, usdPerHour float64) string {
	if gpu == "" {
		return ""
	}
	s := fmt.Sprintf(": %s ×%d", gpu, max(count, 1))
	if usdPerHour != 0 {
		s += fmt.Sprintf(" at $%.2f/h", usdPerHour)
	}
	return s
}

// endText is the order's end as a time mark ("soon" when unknown): relative
// ("in 15 minutes") or a date and time, each in the reader's own zone.
func endText(end *time.Time, style commands.TimeStyle) string {
	if end == nil {
		return "soon"
	}
	if style == commands.TimeRelative {
		return commands.Time(*end, style)
	}
	return "at " + commands.Time(*end, style)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// by names who did something: " by <mention>", "" when unknown.
func by(identity string) string {
	if identity == "" {
		return ""
	}
	return " by " + commands.Mention(identity)
}

// EventReplyFor is EventReply for a sink that knows the event's origin: an
// alert, a reminder or an order's end mentions whom it concerns (the
// watch's owner, the order's renter), so that they are notified.
func EventReplyFor(ev commands.SinkEvent) (commands.Reply, bool) {
	r, ok := EventReply(ev.Event)
	if !ok || ev.Origin == nil || ev.Origin.User == "" {
		return r, ok
	}
	switch ev.Type {
	case "watch.triggered", "order.expiring", "order.failed", "order.expired", "budget.warning", "budget.exceeded":
		r.Text = commands.Mention(ev.Origin.User) + " " + r.Text
	}
	return r, ok
}

// orText is prefix + the first non-empty value, or "".
func orText(prefix string, values ...string) string {
	for _, v := range values {
		if v != "" {
			return prefix + v
		}
	}
	return ""
}
