package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// ConnectionStore keeps a webhook rent's connection details until they
// reach the requester; *storage.Store implements it.
type ConnectionStore interface {
	// EnqueueConnection stores jobID's connection details once: with a url,
	// with one delivery of them there; without, for TakeConnection.
	EnqueueConnection(ctx context.Context, jobID string, data json.RawMessage, url, secretRef, messageID string, now time.Time) error
	// TakeConnection returns the details waiting for jobID's requester and
	// wipes them, with the job's SSH password; ok is false when there are
	// none (sent to a callback, taken already, or wiped after 24 h).
	TakeConnection(ctx context.Context, jobID string) (data json.RawMessage, ok bool, err error)
}

// CallbackNotifier is the webhook front door's commands.Notifier: a job's
// progress is in its lifecycle events already, so it keeps only what
// events never carry, the private part of a reply (connection details):
// as one signed delivery to the request's callback_url, or, without one,
// for the first signed GET /webhook/jobs/{id} of the key that asked.
// Other platforms' targets are left to other notifiers.
type CallbackNotifier struct {
	Store ConnectionStore
	Now   func() time.Time // default time.Now
}

// Notify implements commands.Notifier.
func (n CallbackNotifier) Notify(ctx context.Context, t commands.Target, r commands.Reply) (string, error) {
	key, ok := strings.CutPrefix(t.User, commands.PlatformWebhook+":")
	if t.Platform != commands.PlatformWebhook || !ok || r.Private == nil || n.Store == nil {
		return "", nil
	}
	if r.JobID == "" {
		return "", errors.New("webhook: connection details without a job: not kept")
	}
	if t.ReplyTarget != "" {
		if problem := deliveryURLProblem(t.ReplyTarget, false); problem != "" {
			return "", fmt.Errorf("webhook: connection details of job %s not sent: callback_url: %s", r.JobID, problem)
		}
	}
	data, err := json.Marshal(commands.NewOrderConnectionEvent(r.JobID, r.Private))
	if err != nil {
		return "", fmt.Errorf("webhook: connection details of job %s: %w", r.JobID, err)
	}
	now := time.Now
	if n.Now != nil {
		now = n.Now
	}
	// One per job: a job resumed after a crash queues nothing new.
	err = n.Store.EnqueueConnection(ctx, r.JobID, data, t.ReplyTarget, keyRefPrefix+key, "msg_conn_"+r.JobID, now())
	if err != nil {
		return "", fmt.Errorf("webhook: connection details of job %s: %w", r.JobID, err)
	}
	return "", nil
}

// connectionSSH reads the SSH endpoint of an order.connection event's data
// (commands.OrderConnectionEvent), or of data stored before it had one
// (the reply's fields); nil when it names none.
func connectionSSH(data json.RawMessage) (*commands.SSHEndpoint, error) {
	var d struct {
		commands.OrderConnectionEvent
		Fields []commands.Field `json:"fields"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("webhook: connection details: %w", err)
	}
	if d.SSH != nil {
		return d.SSH, nil
	}
	if e, ok := (&commands.PrivatePart{Fields: d.Fields}).SSH(); ok {
		return &e, nil
	}
	return nil, nil
}
