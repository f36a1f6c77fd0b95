package commands

import (
	"context"
	"time"
)

// Platforms of a Request.
const (
	PlatformSlack   = "slack"
	PlatformDiscord = "discord"
	PlatformWebhook = "webhook"
	PlatformCLI     = "cli"
)

// Request is one command from any front door.
type Request struct {
	Platform    string // PlatformSlack, ...
	User        string // identity: "slack:U123", "discord:42", "webhook:zapier", "cli:alice"
	UserName    string // display name, for replies only
	Channel     string // where the command was typed, for the audit log
	ReplyTarget string // the front door's address for later updates (response_url, interaction token, callback URL, ...)
	Text        string // the command text of DESIGN.md §3
	// Command is Text parsed (ParseRequest), or the command a webhook route
	// built from its fields. When it is set the command layer acts on it and
	// never parses Text again: a front door parses once and the parse
	// travels with the request.
	Command *Command
	// Invalid is why Text does not parse, set by ParseRequest instead of
	// Command: the command layer answers it as it is, without parsing again.
	Invalid *UsageError
	// Action, when set, is a button click instead of a command.
	Action *Action
	// IdempotencyKey identifies the request across retries and duplicate
	// deliveries: one key, at most one job and one order.
	IdempotencyKey string
	// Roles are the requester's roles on the platform, as policy lists name
	// them ("discord-role:<id>"): a role listed in policy gives its members
	// that policy role. Only a front door that verified them sets them.
	Roles []string
	// Via is the identity that made the request on User's behalf (`exec
	// --as`, allowed to admins only); "" when User made it. The audit row
	// names both.
	Via string
}

// Action is a click on a Button.
type Action struct {
	ID    string // e.g. "cancel:1942182", "confirm:<job id>", "extend:1942182"
	Value string
}

// Visibility says who sees a Reply.
type Visibility string

// Visibilities.
const (
	Public    Visibility = "public"
	Ephemeral Visibility = "ephemeral" // only the requester, in the channel
	Private   Visibility = "private"   // a direct message to the requester
)

// Reply statuses.
const (
	StatusOK      = "ok"
	StatusQueued  = "queued"
	StatusConfirm = "confirm"
	StatusDenied  = "denied"
	StatusError   = "error"
	StatusFailed  = "failed"
	StatusRunning = "running"
)

// Reply is a platform-neutral answer; front doors render it.
type Reply struct {
	Status     string     `json:"status"`
	Title      string     `json:"title,omitempty"`
	Text       string     `json:"text,omitempty"`
	Fields     []Field    `json:"fields,omitempty"`
	Buttons    []Button   `json:"buttons,omitempty"`
	Visibility Visibility `json:"visibility"`
	// Private holds what only the requester may see (connection details, the
	// SSH password): front doors send it ephemerally or as a direct message,
	// never in the public message.
	Private *PrivatePart `json:"private,omitempty"`
	// JobID is set when the command became a job.
	JobID string `json:"job_id,omitempty"`
	// Usage is the usage line shown with a bad command.
	Usage string `json:"usage,omitempty"`
	// Done is false while a job will update this reply again.
	Done bool `json:"done"`
	// Temporary marks an error that is not the request's fault (Clore or
	// storage failed): the same request may succeed later.
	Temporary bool `json:"temporary,omitempty"`
	// RetryAfter, with Temporary, is when a retry makes sense, in seconds
	// (0: the front door's default). HTTP answers send it as Retry-After.
	RetryAfter int `json:"retry_after,omitempty"`
	// Conflict, with StatusError, marks a request refused because of what
	// is stored already (HTTP answers 409), e.g. RepeatedReply.
	Conflict bool `json:"conflict,omitempty"`
	// RequestedBy is whom a job's message acts for (an identity): front
	// doors whose messages do not show who asked (a Slack message posted
	// by the bot) name them.
	RequestedBy string `json:"requested_by,omitempty"`
	// Orders are the orders a status reply lists, in the machine shape
	// that webhook answers and `exec --json` carry (Fields word them).
	Orders []OrderInfo `json:"orders,omitempty"`
	// Image is a chart shown with the reply by the chat doors.
	Image *Image `json:"-"`
	// History is the data behind a `market --history` chart: machine
	// answers (webhook, exec --json) give it instead of the image.
	History []PriceHistory `json:"history,omitempty"`
}

// Field is a labelled value.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Short bool   `json:"short,omitempty"`
}

// Button is an interactive button; its click comes back as an Action.
type Button struct {
	ActionID string `json:"action_id"` // "cancel:<order>", "confirm:<job>", "extend:<order>"
	Label    string `json:"label"`
	Value    string `json:"value,omitempty"`
	Confirm  string `json:"confirm,omitempty"` // a confirmation question, if any
	Danger   bool   `json:"danger,omitempty"`
}

// PrivatePart is the part of a reply for the requester's eyes only.
type PrivatePart struct {
	Title  string  `json:"title,omitempty"`
	Text   string  `json:"text,omitempty"`
	Fields []Field `json:"fields,omitempty"`
}

// Target is where a job's progress goes: the reply to the request that
// started it.
type Target struct {
	Platform    string
	User        string
	ReplyTarget string
	// Ref is the handle of the message to update; "" for the first message.
	Ref string
}

// Notifier delivers job progress. Notify posts r (or, when t.Ref is set,
// updates that message in place) and returns the handle of the message.
type Notifier interface {
	Notify(ctx context.Context, t Target, r Reply) (ref string, err error)
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, t Target, r Reply) (string, error)

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, t Target, r Reply) (string, error) {
	return f(ctx, t, r)
}

// Clock tells the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
