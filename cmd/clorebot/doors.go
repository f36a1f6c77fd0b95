package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/httpserver"
)

// doorFactory builds one front door over what the App opened before the
// doors (storage, the Clore client, the command layer), from the door's
// part of the configuration; nil, nil when the configuration leaves the
// door off.
type doorFactory func(a *App) (chat.Door, error)

// frontDoor is a platform serve can run: the prefix its users' identities
// have in policy lists, how its door is built, and its deployment checks
// for `clorebot doctor` (nil: none).
type frontDoor struct {
	platform string
	build    doorFactory
	doctor   func(d *doctor)
}

// frontDoors are the platforms serve can run, in the order their doors are
// built (their sinks, routes and checks keep that order). A new platform is
// a new package under bot/ and one line here; serve's generic code ranges
// over the doors built and finds what each does by type assertion
// (chat.Door).
var frontDoors = []frontDoor{
	{commands.PlatformWebhook, newWebhookDoor, nil}, // doctor: checkWebhookKeys, checkReceivers
	{commands.PlatformSlack, newSlackDoor, doctorSlack},
	{commands.PlatformDiscord, newDiscordDoor, doctorDiscord},
}

// chatDoor registers a door built from the chat.Deps alone (a door with no
// configuration of its own, such as the test tree's).
func chatDoor(platform string, build func(chat.Deps) (chat.Door, error)) frontDoor {
	return frontDoor{platform: platform, build: func(a *App) (chat.Door, error) { return build(a.chatDeps(platform)) }}
}

// doorPlatforms are the platforms of frontDoors, for the configuration's
// identity checks (config.LoadOptions.Platforms).
func doorPlatforms() []string {
	var out []string
	for _, d := range frontDoors {
		out = append(out, d.platform)
	}
	return out
}

// chatDeps is what every chat door is built with: the command layer (each
// request logged), its logger, the gate its socket waits for, the durable
// replay records.
func (a *App) chatDeps(name string) chat.Deps {
	return chat.Deps{Service: chatCommands{svc: a.svc, log: a.log}, Logger: a.log.With("front_door", name),
		ConnectAfter: a.chatGate, Replays: a.store}
}

// openDoors builds the configured front doors, then assigns to the command
// layer what it needs of them: each door's notifier for its own platform's
// targets, and its role source.
func (a *App) openDoors() error {
	for _, f := range frontDoors {
		d, err := f.build(a)
		if err != nil {
			return err
		}
		if d == nil {
			continue
		}
		if d.Platform() != f.platform {
			return fmt.Errorf("front door %q built for platform %q", d.Platform(), f.platform)
		}
		a.doors = append(a.doors, d)
		if n, ok := d.(commands.Notifier); ok {
			a.notifiers.Add(d.Platform(), n)
		}
		if rs, ok := d.(chat.RoleSourcer); ok {
			if src := rs.RoleSource(); src != nil {
				a.roleSources[d.Platform()] = src
			}
		}
	}
	return nil
}

// doorSinks are the outbox sinks of the doors, in their order.
func (a *App) doorSinks() []commands.Sink {
	var sinks []commands.Sink
	for _, d := range a.doors {
		if s, ok := d.(commands.Sink); ok {
			sinks = append(sinks, s)
		}
	}
	return sinks
}

// doorChecks are the doors' readiness checks, for /readyz.
func (a *App) doorChecks() []httpserver.Check {
	var checks []httpserver.Check
	for _, d := range a.doors {
		c, ok := d.(chat.Checker)
		if !ok {
			continue
		}
		for _, c := range c.Checks() {
			checks = append(checks, httpserver.Check{Name: c.Name, Probe: degradedAs(c.Probe)})
		}
	}
	return checks
}

// degradedAs is probe with a door's chat.ErrDegraded also reported as the
// server's httpserver.ErrDegraded: /readyz stays ready.
func degradedAs(probe func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		err := probe(ctx)
		if errors.Is(err, chat.ErrDegraded) && !errors.Is(err, httpserver.ErrDegraded) {
			return fmt.Errorf("%w: %w", httpserver.ErrDegraded, err)
		}
		return err
	}
}

// doorRoute is a route a door contributes.
type doorRoute struct {
	pattern, signature string
	h                  http.Handler
}

// mountDoors mounts every door's routes on the HTTP listener. A route the
// door authenticates itself (a signature header) is limited per remote
// address on failed authentication (webhook.ip_rate_per_minute, behind
// http.trusted_proxies), as the webhook routes are.
func (a *App) mountDoors() error {
	var routes []doorRoute
	var signatures []string
	for _, d := range a.doors {
		r, ok := d.(chat.Router)
		if !ok {
			continue
		}
		err := r.MountRoutes(func(pattern string, h http.Handler, signature string) {
			routes = append(routes, doorRoute{pattern, signature, h})
			if signature != "" && !slices.Contains(signatures, signature) {
				signatures = append(signatures, signature)
			}
		})
		if err != nil {
			return err
		}
	}
	if len(signatures) > 0 {
		proxies, err := webhook.ParseTrustedProxies(a.cfg.HTTP.TrustedProxies)
		if err != nil {
			return err
		}
		a.chatAuth = webhook.NewAuthLimit(webhook.AuthLimitOptions{
			PerMinute: a.cfg.Webhook.IPRatePerMinute, TrustedProxies: proxies,
			SignatureHeaders: signatures, Logger: a.log,
		})
	}
	for _, r := range routes {
		h := r.h
		if r.signature != "" {
			h = a.chatAuth.Wrap(h)
		}
		a.http.Handle(r.pattern, h)
	}
	return nil
}

// runDoors runs every door, and also, until ctx ends, each on its own
// goroutine; the returned func waits for them all and joins their errors.
func (a *App) runDoors(ctx context.Context, also ...func(context.Context) error) (wait func() error) {
	runs := slices.Clone(also)
	for _, d := range a.doors {
		runs = append(runs, d.Run)
	}
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Go(func() { errs[i] = run(ctx) })
	}
	return func() error {
		wg.Wait()
		return errors.Join(errs...)
	}
}

// newWebhookDoor builds the signed-webhook door: its routes (DESIGN.md §5)
// from the configuration with their dedup records in the database, the
// notifier of a webhook rent's connection details, and the outbound
// deliveries, fed by the outbox with a cursor of their own (DESIGN.md §2
// step 5). It is always on: without keys every signed route refuses.
func newWebhookDoor(a *App) (chat.Door, error) {
	var err error
	if a.api, err = a.newAPI(); err != nil {
		return nil, err
	}
	if a.dispatcher, err = a.newDispatcher(); err != nil {
		return nil, err
	}
	a.dispatcher.FedByOutbox()
	return &webhook.Door{API: a.api, Callbacks: webhook.CallbackNotifier{Store: a.store}, Deliveries: a.dispatcher}, nil
}

// logNotifier reports job progress in the log, then hands it to the door
// that owns its target.
type logNotifier struct {
	log  *slog.Logger
	next commands.Notifier
}

// Notify implements commands.Notifier; it logs the public part only.
func (n logNotifier) Notify(ctx context.Context, t commands.Target, r commands.Reply) (string, error) {
	n.log.LogAttrs(ctx, slog.LevelInfo, "job progress", slog.String("job_id", r.JobID),
		slog.String("status", r.Status), slog.String("user", t.User))
	return n.next.Notify(ctx, t, r)
}
