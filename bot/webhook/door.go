package webhook

import (
	"context"
	"net/http"

	"github.com/clorebot/clorebot/commands"
)

// Mux is where routes are mounted: the process's HTTP server
// (internal/httpserver), or a test's.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// muxFunc adapts a function to Mux.
type muxFunc func(pattern string, h http.Handler)

func (f muxFunc) Handle(pattern string, h http.Handler) { f(pattern, h) }

// Door is the signed-webhook front door as the process runs it (the
// front-door contract of bot/chat, which this package implements without
// importing it): the /webhook/* routes, the notifier that keeps a webhook
// rent's connection details for its requester, and the outbound
// deliveries' sink. It has no connection of its own to run.
type Door struct {
	API        *API
	Callbacks  CallbackNotifier
	Deliveries *Dispatcher // required
}

// Platform is commands.PlatformWebhook.
func (d *Door) Platform() string { return commands.PlatformWebhook }

// Run waits for ctx: requests are served by the process's HTTP server and
// deliveries by its scheduler.
func (d *Door) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// MountRoutes mounts the routes of DESIGN.md §5; each authenticates and
// limits its callers itself (signature "").
func (d *Door) MountRoutes(mount func(pattern string, h http.Handler, signature string)) error {
	d.API.Mount(muxFunc(func(pattern string, h http.Handler) { mount(pattern, h, "") }))
	return nil
}

// Notify implements commands.Notifier (CallbackNotifier).
func (d *Door) Notify(ctx context.Context, t commands.Target, r commands.Reply) (string, error) {
	return d.Callbacks.Notify(ctx, t, r)
}

// SinkName implements commands.Sink: the deliveries' cursor.
func (d *Door) SinkName() string { return d.Deliveries.SinkName() }

// Deliver implements commands.Sink: every event, queued for the
// subscribers that take it (Dispatcher).
func (d *Door) Deliver(ctx context.Context, events []commands.SinkEvent) (int, error) {
	return d.Deliveries.Deliver(ctx, events)
}

var (
	_ commands.Notifier = (*Door)(nil)
	_ commands.Sink     = (*Door)(nil)
)
