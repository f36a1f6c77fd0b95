package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// EventOrigin is the request an outbox event goes back to: the rent job
// that created the event's order, else the event's own job, else the watch
// named by its data. Sinks deliver to the origins of their platform.
type EventOrigin struct {
	Platform    string // PlatformSlack, ...
	User        string // identity
	Channel     string
	ReplyTarget string // the front door's address of the conversation
	// ReplyRef is the front door's handle of the job's message (the order's
	// message for order events); "" when none is known.
	ReplyRef string
	JobID    string // "" for a watch
}

// SinkEvent is an outbox event with its origin; Origin is nil when the
// event has none (wallet events, orders clorebot did not create).
type SinkEvent struct {
	Event
	Origin *EventOrigin
	// Image, when set, draws the picture that goes with the event (a watch
	// alert's price chart, OutboxOptions.Images); nil from it means none.
	// Chat sinks call it for the events they post, so that an event no
	// chat shows is never drawn.
	Image func(ctx context.Context) *Image
}

// Sink delivers outbox events to one kind of receiver: the chat message
// that started a job (Slack, Discord), outbound webhook subscribers,
// incoming-webhook URLs. Each front door implements the sink of its
// platform; cmd/clorebot registers them with an Outbox.
type Sink interface {
	// SinkName names the sink's cursor over the outbox in storage; it must
	// not change between releases.
	SinkName() string
	// Deliver handles events, oldest first, and returns how many it handled
	// (delivered, queued for delivery, or skipped as not its own). The
	// sink's cursor moves past those; after an error the rest are offered
	// again after a pause. A sink sees every event at least once, and again
	// when the process dies between Deliver and the cursor's move.
	Deliver(ctx context.Context, events []SinkEvent) (handled int, err error)
}

// ErrSinkUnavailable, wrapped in an error of Sink.Deliver, says that the
// sink itself cannot work for now (its storage failed), not that the event
// is undeliverable: the event is offered again however often it fails,
// never skipped.
var ErrSinkUnavailable = errors.New("commands: sink unavailable")

// SinkStore is the durable state an Outbox needs; storage.Store implements
// it.
type SinkStore interface {
	// ListEvents returns outbox events with ID > afterID, oldest first.
	ListEvents(ctx context.Context, afterID int64, limit int) ([]Event, error)
	// SinkCursor returns the id of the last event the sink handled. A sink
	// seen for the first time starts at the newest event: it is not sent
	// the history.
	SinkCursor(ctx context.Context, sink string) (int64, error)
	// AdvanceSinkCursor moves the sink's cursor to eventID, never backwards.
	AdvanceSinkCursor(ctx context.Context, sink string, eventID int64) error
	// GetJob, GetOrderByCloreID and GetWatch find an event's origin;
	// ErrNotFound when missing.
	GetJob(ctx context.Context, id string) (Job, error)
	GetOrderByCloreID(ctx context.Context, cloreID int64) (Order, error)
	GetWatch(ctx context.Context, id int64) (Watch, error)
	// RentJobOfOrder returns the rent job that created the Clore order
	// cloreID; ErrNotFound when clorebot did not create it.
	RentJobOfOrder(ctx context.Context, cloreID int64) (Job, error)
}

// OutboxOptions configures an Outbox.
type OutboxOptions struct {
	Store SinkStore // required
	Sinks []Sink
	// Batch is how many events a sink is offered at once (default 64).
	Batch int
	// MaxAttempts bounds how often one event is offered to a sink that
	// fails on it (default 8); then it is skipped and logged, so that one
	// undeliverable event does not stop the sink for good.
	MaxAttempts int
	Logger      *slog.Logger
	// Images, when set, gives the picture of an event, drawn when a sink
	// asks for it (SinkEvent.Image); Service.AlertChart is the one serve
	// wires. Its error is logged and the event goes without a picture.
	Images func(ctx context.Context, ev Event) (*Image, error)
}

// Outbox is the one dispatcher of the outbox: it feeds every sink the
// events after its own cursor.
type Outbox struct {
	o        OutboxOptions
	mu       sync.Mutex
	failures map[string]failure // by sink name
}

// failure counts the attempts at a sink's first unhandled event.
type failure struct {
	eventID  int64
	attempts int
	next     time.Time
}

// NewOutbox returns an Outbox.
func NewOutbox(o OutboxOptions) *Outbox {
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Outbox{o: o, failures: map[string]failure{}}
}

// Run calls Tick every `every` until ctx ends.
func (x *Outbox) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		if err := x.Tick(ctx); err != nil && ctx.Err() == nil {
			x.o.Logger.LogAttrs(ctx, slog.LevelWarn, "outbox tick failed", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick offers every sink the events after its cursor, a batch at a time,
// sinks one after the other. It returns storage failures; a sink's own
// failure is retried later.
func (x *Outbox) Tick(ctx context.Context) error {
	var errs []error
	for _, s := range x.o.Sinks {
		if err := x.feed(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// feed offers one sink its pending events.
func (x *Outbox) feed(ctx context.Context, s Sink) error {
	name := s.SinkName()
	for ctx.Err() == nil {
		if f, ok := x.failing(name); ok && time.Now().Before(f.next) {
			return nil
		}
		after, err := x.o.Store.SinkCursor(ctx, name)
		if err != nil {
			return fmt.Errorf("commands: outbox %s: %w", name, err)
		}
		events, err := x.o.Store.ListEvents(ctx, after, x.o.Batch)
		if err != nil || len(events) == 0 {
			return wrapOp("commands: outbox "+name, err)
		}
		batch := make([]SinkEvent, len(events))
		for i, ev := range events {
			origin, err := x.origin(ctx, ev)
			if err != nil {
				return fmt.Errorf("commands: outbox %s: origin of event %d: %w", name, ev.ID, err)
			}
			batch[i] = SinkEvent{Event: ev, Origin: origin}
			if x.o.Images != nil {
				batch[i].Image = x.imageOf(ev)
			}
		}
		n, derr := s.Deliver(ctx, batch)
		n = min(max(n, 0), len(batch))
		if derr != nil && n < len(batch) && x.giveUp(ctx, name, batch[n].ID, derr) && !errors.Is(derr, ErrSinkUnavailable) {
			n++ // skip the event that keeps failing
		}
		if n > 0 {
			if err := x.o.Store.AdvanceSinkCursor(ctx, name, batch[n-1].ID); err != nil {
				return fmt.Errorf("commands: outbox %s: %w", name, err)
			}
		}
		if derr != nil || len(events) < x.o.Batch {
			return nil
		}
	}
	return nil
}

// imageOf is the lazy SinkEvent.Image of ev: drawn at the first call, the
// same picture (or none) for every later one.
func (x *Outbox) imageOf(ev Event) func(context.Context) *Image {
	var once sync.Once
	var img *Image
	return func(ctx context.Context) *Image {
		once.Do(func() {
			var err error
			if img, err = x.o.Images(ctx, ev); err != nil {
				img = nil
				x.o.Logger.LogAttrs(ctx, slog.LevelWarn, "event picture not drawn; delivered without it",
					slog.Int64("event_id", ev.ID), slog.String("event_type", ev.Type), slog.Any("error", err))
			}
		})
		return img
	}
}

// failing returns the sink's current failure, if any.
func (x *Outbox) failing(name string) (failure, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	f, ok := x.failures[name]
	return f, ok
}

// giveUp records a failed delivery of eventID and reports whether the
// event has had its attempts; the next attempt waits 1 s, 2 s, 4 s, … up to
// a minute.
func (x *Outbox) giveUp(ctx context.Context, name string, eventID int64, err error) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	f := x.failures[name]
	if f.eventID != eventID {
		f = failure{eventID: eventID}
	}
	f.attempts++
	if f.attempts >= x.o.MaxAttempts {
		delete(x.failures, name)
		x.o.Logger.LogAttrs(ctx, slog.LevelWarn, "outbox event skipped by sink after repeated failures",
			slog.String("sink", name), slog.Int64("event_id", eventID), slog.Int("attempts", f.attempts), slog.Any("error", err))
		return true
	}
	f.next = time.Now().Add(min(time.Second<<(f.attempts-1), time.Minute))
	x.failures[name] = f
	x.o.Logger.LogAttrs(ctx, slog.LevelInfo, "outbox sink failed, will retry",
		slog.String("sink", name), slog.Int64("event_id", eventID), slog.Int("attempt", f.attempts), slog.Any("error", err))
	return false
}

// origin finds the request ev goes back to.
func (x *Outbox) origin(ctx context.Context, ev Event) (*EventOrigin, error) {
	st := x.o.Store
	if ev.OrderID != nil {
		j, err := st.RentJobOfOrder(ctx, *ev.OrderID)
		if err == nil {
			return jobOrigin(j), nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		o, err := st.GetOrderByCloreID(ctx, *ev.OrderID)
		if err == nil {
			platform, _, _ := strings.Cut(o.RequestedBy, ":")
			return &EventOrigin{Platform: platform, User: o.RequestedBy, ReplyTarget: o.ReplyTarget}, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	if ev.JobID != "" {
		j, err := st.GetJob(ctx, ev.JobID)
		if err == nil {
			return jobOrigin(j), nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	watchID, ok := ev.WatchID()
	if !ok {
		return nil, nil
	}
	w, err := st.GetWatch(ctx, watchID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &EventOrigin{Platform: w.Platform, User: w.Owner, Channel: w.Channel, ReplyTarget: w.ReplyTarget}, nil
}

func jobOrigin(j Job) *EventOrigin {
	return &EventOrigin{Platform: j.Platform, User: j.RequestedBy, Channel: j.Channel,
		ReplyTarget: j.ReplyTarget, ReplyRef: j.ReplyRef, JobID: j.ID}
}

// wrapOp wraps a non-nil err with op.
func wrapOp(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
