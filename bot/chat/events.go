package chat

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// eventData is what lifecycle events carry that a chat message shows. It
// never holds secrets (commands puts none in events).
type eventData struct {
	OrderID     *int64   `json:"order_id"`
	GPU         string   `json:"gpu"`
	GPUCount    int      `json:"gpu_count"`
	USDPerHour  *float64 `json:"usd_per_hour"`
	ExpiresAt   string   `json:"expires_at"`
	CancelledBy string   `json:"cancelled_by"`
	Reason      string   `json:"reason"`
	Error       string   `json:"error"`
	Text        string   `json:"text"`
	Message     string   `json:"message"`
	WatchID     *int64   `json:"watch_id"`
	Price       *float64 `json:"usd_per_gpu_hour"`
	Hours       *float64 `json:"hours"`
	JobID       string   `json:"job_id"`
	// Confirm marks a watch.triggered whose rent job awaits confirmation:
	// its message carries Rent now (confirm:<job id>).
	Confirm bool `json:"confirm"`
}

// EventReply words a lifecycle event for a chat thread or channel. ok is
// false for events a chat sink does not post (job.completed and
// order.created, which the job's own message already shows).
func EventReply(ev commands.Event) (r commands.Reply, ok bool) {
	var d eventData
	_ = json.Unmarshal(ev.Data, &d)
	order := "the order"
	var id int64
	if d.OrderID != nil {
		id = *d.OrderID
		order = "Order #" + strconv.FormatInt(id, 10)
	} else if ev.OrderID != nil {
		id = *ev.OrderID
		order = "Order #" + strconv.FormatInt(id, 10)
	}
	r = commands.Reply{Status: commands.StatusOK, Visibility: commands.Public, Done: true}
	switch ev.Type {
	case "order.running":
		r.Text = order + " is running" + d.gpuText() + "."
	case "order.failed":
		r.Status, r.Text = commands.StatusFailed, order+" failed"+orText(": ", d.Error, d.Reason)+"."
	case "order.cancelled":
		r.Text = order + " was cancelled" + by(d.CancelledBy) + "."
	case "order.expired":
		r.Text = order + " has ended: its time is up."
		switch d.Reason {
		case "outbid":
			r.Status, r.Text = commands.StatusFailed, order+" was outbid and ended; billing stopped."
		case "ended":
			r.Text = order + " was ended at Clore; billing stopped."
		}
	case "order.expiring":
		r.Text = order + " ends " + d.endText(commands.TimeRelative) + "."
		if id > 0 {
			r.Buttons = []commands.Button{
				{ActionID: "extend:" + strconv.FormatInt(id, 10), Label: "Extend 1 h", Value: d.endUnix()},
				CancelButton(id),
			}
		}
	case "order.extended":
		r.Text = order + " was extended; it now ends " + d.endText(commands.TimeFull) + "."
	case "watch.triggered":
		r.Title = "Price alert"
		r.Text = orText("", d.Text, d.Message)
		if r.Text == "" {
			r.Text = fmt.Sprintf("A watched offer%s is available.", d.gpuText())
		}
		if d.Confirm && d.JobID != "" {
			r.Status = commands.StatusConfirm
			r.Buttons = []commands.Button{{ActionID: "confirm:" + d.JobID, Label: "Rent now", Value: d.JobID,
				Confirm: "Rent it now? Your team's limits are checked again.", Danger: true}}
		}
	case "wallet.low_balance":
		r.Text = orText("", d.Text, d.Message, "The Clore wallet balance is low.")
	case "budget.warning":
		r.Title, r.Text = "Budget", orText("", d.Text, d.Message, "80 % of a monthly budget is spent.")
	case "budget.exceeded":
		r.Title, r.Text = "Budget", orText("", d.Text, d.Message, "A monthly budget is spent.")
		r.Status = commands.StatusFailed
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
func (d eventData) endUnix() string {
	t, err := time.Parse(time.RFC3339, d.ExpiresAt)
	if err != nil {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func (d eventData) gpuText() string {
	if d.GPU == "" {
		return ""
	}
	s := fmt.Sprintf(": %s ×%d", d.GPU, max(d.GPUCount, 1))
	if d.USDPerHour != nil {
		s += fmt.Sprintf(" at $%.2f/h", *d.USDPerHour)
	}
	return s
}

// endText is the order's end as a time mark ("soon" when unknown): relative
// ("in 15 minutes") or a date and time, each in the reader's own zone.
func (d eventData) endText(style commands.TimeStyle) string {
	t, err := time.Parse(time.RFC3339, d.ExpiresAt)
	if err != nil {
		return "soon"
	}
	if style == commands.TimeRelative {
		return commands.Time(t, style)
	}
	return "at " + commands.Time(t, style)
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
