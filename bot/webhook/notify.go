package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// ConnectionEvent is the type of the delivery that brings a rent's
// connection details (SSH command, password) to the callback_url of the
// webhook request that started it, and to nobody else.
const ConnectionEvent = "order.connection"

// CallbackNotifier is the webhook front door's commands.Notifier: a job's
// progress is in its lifecycle events already, so it sends only what events
// never carry, the private part of a reply (connection details), as one
// signed delivery to the request's callback_url. Other platforms' targets
// and requests without a callback_url are left to other notifiers.
type CallbackNotifier struct {
	Replies ReplyStore
	Now     func() time.Time // default time.Now
}

// Notify implements commands.Notifier.
func (n CallbackNotifier) Notify(ctx context.Context, t commands.Target, r commands.Reply) (string, error) {
	key, ok := strings.CutPrefix(t.User, commands.PlatformWebhook+":")
	if t.Platform != commands.PlatformWebhook || !ok || t.ReplyTarget == "" || r.Private == nil || n.Replies == nil {
		return "", nil
	}
	if problem := deliveryURLProblem(t.ReplyTarget, false); problem != "" {
		return "", fmt.Errorf("webhook: connection details of job %s not sent: callback_url: %s", r.JobID, problem)
	}
	data, err := json.Marshal(struct {
		JobID  string           `json:"job_id"`
		Title  string           `json:"title,omitempty"`
		Text   string           `json:"text,omitempty"`
		Fields []commands.Field `json:"fields"`
	}{r.JobID, r.Private.Title, r.Private.Text, r.Private.Fields})
	if err != nil {
		return "", fmt.Errorf("webhook: connection details of job %s: %w", r.JobID, err)
	}
	now := time.Now
	if n.Now != nil {
		now = n.Now
	}
	// One delivery per job: a job resumed after a crash queues nothing new.
	msgID := "msg_conn_" + r.JobID
	if r.JobID == "" {
		msgID = NewMessageID()
	}
	if _, err := n.Replies.EnqueueReply(ctx, ConnectionEvent, data, t.ReplyTarget, keyRefPrefix+key, msgID, now()); err != nil {
		return "", fmt.Errorf("webhook: connection details of job %s: %w", r.JobID, err)
	}
	return "", nil
}
