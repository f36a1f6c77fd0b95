package chat

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/clorebot/clorebot/commands"
)

// Door is a front door: one platform's way into the command layer. The
// process (cmd/clorebot serve) builds the configured doors after the
// command layer, runs each with Run, and discovers what else a door does by
// type assertion on the capabilities below; it never names a platform.
//
// A door's methods use only the standard library's and commands' types, so
// that a door that does not import this package (the webhook door) can
// still implement the contract.
type Door interface {
	// Platform is the platform the door serves (commands.PlatformSlack,
	// ...): the prefix of its users' identities ("slack:U123") and of the
	// targets and events it owns.
	Platform() string
	// Run serves until ctx ends, then waits for the work it acknowledged
	// (bounded by its own drain limit) and returns. A door with nothing to
	// run waits for ctx.
	Run(ctx context.Context) error
}

// Capabilities a door may have, each found by a type assertion
// (`if n, ok := door.(commands.Notifier); ok`):
//
//   - commands.Notifier: a job's progress for the door's own platform's
//     targets (Notifiers routes each target to the door that owns it).
//   - commands.Sink: lifecycle events from the outbox, with a cursor of
//     its own; the door words those whose origin is its platform.
//   - Router: HTTP routes the process server mounts.
//   - Checker: readiness checks for /readyz.
//   - RoleSourcer: a member's current platform roles, for auto-rents.
//
// A platform's deployment checks for `clorebot doctor` run from the
// configuration alone, before (and without) any door: its package exports
// them as a function that reports Findings (slackbot.Doctor), registered
// beside the door's constructor.
//
// A connection that must be held once per deployment (the Discord gateway,
// leader-only with two instances, DESIGN.md §8) is gated inside the door,
// as Socket Mode and the gateway wait for the process to be ready
// (ConnectAfter): its routes and notifier serve on every instance.
type (
	// Router is a door that serves HTTP. MountRoutes hands each of its
	// routes to mount: a Go 1.22 ServeMux pattern ("POST /slack/commands"),
	// its handler, and the header that carries the request's signature
	// when the door authenticates the route itself ("" when the handler
	// limits its callers on its own): the process then limits failed
	// authentication per remote address, as on the webhook routes.
	Router interface {
		MountRoutes(mount func(pattern string, h http.Handler, signature string)) error
	}

	// Checker is a door with readiness checks: /readyz is not ready while
	// one fails; a probe error wrapping ErrDegraded keeps it ready and says
	// "degraded".
	Checker interface {
		Checks() []Check
	}

	// RoleSourcer is a door that can tell a member's current roles on its
	// platform; RoleSource is nil when it cannot as configured.
	RoleSourcer interface {
		RoleSource() commands.RoleSource
	}
)

// Check is one readiness probe of a door, named as /readyz shows it.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// ErrDegraded, wrapped by a Check's error, reports a door that still serves
// but not as it should: /readyz stays ready and says "degraded".
var ErrDegraded = errors.New("degraded")

// Finding levels of a doctor check.
const (
	FindingOK      = "ok"
	FindingWarning = "warning"
	FindingFailed  = "failed"
)

// Finding is one line of `clorebot doctor`: the check's name, its level
// (FindingOK, ...), what was found and, when it is not ok, how to fix it.
type Finding struct {
	Level, Check, Found, Fix string
}

// Notifiers is the command layer's one commands.Notifier: it hands each
// job update to the notifier of the door that owns the target's platform,
// and to no other. A target of a platform with no notifier (cli) is
// dropped. Add the doors' notifiers before the command layer runs.
type Notifiers struct {
	mu    sync.RWMutex
	doors map[string]commands.Notifier
}

// Add routes the targets of platform to n.
func (ns *Notifiers) Add(platform string, n commands.Notifier) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.doors == nil {
		ns.doors = map[string]commands.Notifier{}
	}
	ns.doors[platform] = n
}

// Notify implements commands.Notifier.
func (ns *Notifiers) Notify(ctx context.Context, t commands.Target, r commands.Reply) (string, error) {
	ns.mu.RLock()
	n := ns.doors[t.Platform]
	ns.mu.RUnlock()
	if n == nil {
		return "", nil
	}
	return n.Notify(ctx, t, r)
}

var _ commands.Notifier = (*Notifiers)(nil)

// Service is the command layer as the chat doors use it; *commands.Service
// implements it.
type Service interface {
	Handler
	MemoryAnswerer
	JobRefs
	// Market is the marketplace summary per GPU model (autocomplete).
	Market(ctx context.Context) ([]commands.ModelSummary, error)
	// OrdersOf lists the orders a requester may act on (autocomplete).
	OrdersOf(ctx context.Context, req commands.Request, limit int) ([]commands.Order, error)
	// CheckCancel says whether the requester may cancel an order (nil: yes).
	CheckCancel(ctx context.Context, req commands.Request, orderID int64) *commands.Reply
	// Permits says whether the requester's role lets them run the command.
	Permits(req commands.Request) bool
}

// Deps is what the process hands every chat door it builds, besides the
// door's own configuration.
type Deps struct {
	Service Service
	Logger  *slog.Logger
	// ConnectAfter is closed once the command layer answers every command:
	// sockets (Slack Socket Mode, the Discord gateway) connect after it
	// (DESIGN.md §7).
	ConnectAfter <-chan struct{}
	// Replays remembers signed HTTP requests durably (replay protection
	// across processes and restarts).
	Replays ReplayStore
}
