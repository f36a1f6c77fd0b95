// Package events names the outbound lifecycle events (DESIGN.md §5) that a
// webhook subscriber may ask for and that the dispatcher delivers: one list
// for the configuration's validation (internal/config) and the deliveries
// (bot/webhook). Other outbox events stay internal. docs/schema/event.json
// is their published shape; a test checks that it names every one.
package events

// Delivered returns the event types delivered to webhook subscribers, in
// the order the documentation lists them.
func Delivered() []string {
	return []string{
		"order.created", "order.running", "order.failed", "order.cancelled",
		"order.expired", "order.expiring", "order.extended", "watch.triggered",
		"wallet.low_balance", "budget.warning", "budget.exceeded", "job.completed",
	}
}
