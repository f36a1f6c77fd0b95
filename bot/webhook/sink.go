package webhook

import (
	"context"
	"fmt"

	"github.com/clorebot/clorebot/commands"
)

// SinkName is the outbound webhooks' cursor over the outbox (DESIGN.md §2
// step 5); the store keeps it with the other sinks' cursors.
const SinkName = "webhook"

// SinkName implements commands.Sink.
func (d *Dispatcher) SinkName() string { return SinkName }

// Deliver implements commands.Sink: the events become deliveries (each
// configured subscriber, the callback_url of the webhook request behind
// them) in one store transaction that also moves the webhook cursor past
// them; a repeated batch creates nothing twice. Its failures are the
// store's (commands.ErrSinkUnavailable): the outbox retries them without
// ever skipping an event. Sending them, with retries
// and dead letters, stays with Run.
func (d *Dispatcher) Deliver(ctx context.Context, events []commands.SinkEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	var ds []commands.NewDelivery
	for _, ev := range events {
		targets, err := d.targetsOf(ctx, ev.Event)
		if err != nil {
			return 0, fmt.Errorf("webhook: fan out event %d: %w: %w", ev.ID, commands.ErrSinkUnavailable, err)
		}
		ds = append(ds, targets...)
	}
	if _, err := d.store.EnqueueDeliveries(ctx, events[len(events)-1].ID, ds, d.now().Add(d.schedule[0])); err != nil {
		return 0, fmt.Errorf("webhook: fan out: %w: %w", commands.ErrSinkUnavailable, err)
	}
	return len(events), nil
}

// FedByOutbox makes Run and Tick only send due deliveries: a commands.Outbox
// that has the Dispatcher among its sinks creates them. Call it before Run.
func (d *Dispatcher) FedByOutbox() { d.fedByOutbox = true }

var _ commands.Sink = (*Dispatcher)(nil)
