package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clorebot/clorebot/bot/discordbot"
	"github.com/clorebot/clorebot/bot/slackbot"
	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/config"
	"github.com/clorebot/clorebot/internal/metrics"
	"github.com/clorebot/clorebot/storage"
)

// The store and the metrics fit the webhook dispatcher as they are; both
// sides speak commands' delivery types.
var (
	_ webhook.DeliveryStore    = (*storage.Store)(nil)
	_ webhook.ReplyStore       = (*storage.Store)(nil)
	_ webhook.DeliveryObserver = (*metrics.DeliveryMetrics)(nil)
)

// deliveriesCmds inspects and replays outbound webhook deliveries.
type deliveriesCmds struct {
	List  deliveriesListCmd  `cmd:"" help:"List outbound webhook deliveries, newest first."`
	Retry deliveriesRetryCmd `cmd:"" help:"Make failed or dead-lettered deliveries due now, with a fresh retry schedule; a running serve sends them."`
	Test  deliveriesTestCmd  `cmd:"" help:"Send a signed test.ping to the subscribers now and print each receiver's status and latency."`
}

// deliveriesListCmd lists deliveries.
type deliveriesListCmd struct {
	Failed bool `help:"Only failed deliveries: dead-lettered, or pending after a failed attempt."`
	JSON   bool `help:"One JSON object per line."`
	Limit  int  `help:"At most this many rows (0 = all)." default:"100"`
}

// deliveryRow is a delivery as `deliveries list --json` prints it.
type deliveryRow struct {
	ID          int64      `json:"id"`
	EventID     int64      `json:"event_id"`
	EventType   string     `json:"event_type"`
	URL         string     `json:"url"`
	Target      string     `json:"target"`
	MessageID   string     `json:"message_id"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	NextAt      *time.Time `json:"next_at"`
	LastAttempt *time.Time `json:"last_attempt_at"`
	LastStatus  *int       `json:"last_status"`
	LastError   *string    `json:"last_error"`
	DeliveredAt *time.Time `json:"delivered_at"`
	CreatedAt   *time.Time `json:"created_at"`
}

// Run prints the deliveries.
func (c deliveriesListCmd) Run(e *env) error {
	st, err := openDeliveryStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	ds, err := st.ListDeliveries(e.ctx, storage.DeliveryFilter{FailedOnly: c.Failed, Limit: c.Limit})
	if err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		for _, d := range ds {
			if err := enc.Encode(newDeliveryRow(d)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEVENT\tTARGET\tURL\tSTATE\tATTEMPTS\tNEXT\tLAST")
	for _, d := range ds {
		r := newDeliveryRow(d)
		next, last := "-", "-"
		if r.NextAt != nil {
			next = r.NextAt.Format(time.RFC3339)
		}
		switch {
		case r.LastError != nil:
			last = *r.LastError
		case r.LastStatus != nil:
			last = "HTTP " + strconv.Itoa(*r.LastStatus)
		}
		fmt.Fprintf(tw, "%d\t%s #%d\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.EventType, r.EventID,
			r.Target, r.URL, r.State, r.Attempts, next, last)
	}
	return tw.Flush()
}

// newDeliveryRow shows d with a password in its URL, if any, redacted.
func newDeliveryRow(d commands.Delivery) deliveryRow {
	opt := commands.UTCTime
	r := deliveryRow{ID: d.ID, EventID: d.EventID, EventType: d.EventType, URL: d.URL,
		Target: webhook.TargetSubscriber, MessageID: d.MessageID, State: d.State, Attempts: d.Attempts,
		LastAttempt: opt(d.LastAttemptAt), LastError: commands.Nullable(d.LastError),
		DeliveredAt: opt(d.DeliveredAt), CreatedAt: opt(d.CreatedAt)}
	if d.LastStatus != 0 {
		status := d.LastStatus
		r.LastStatus = &status
	}
	if key, ok := strings.CutPrefix(d.SecretRef, "key:"); ok {
		r.Target = webhook.TargetCallback + " (" + key + ")"
	}
	if name, ok := strings.CutPrefix(d.SecretRef, "notify:"); ok {
		r.Target, r.URL = "notify ("+name+")", "(the notify."+name+"_webhook_url)"
	}
	if d.State == commands.DeliveryPending {
		r.NextAt = opt(d.NextAt)
	}
	if u, err := url.Parse(d.URL); err == nil {
		r.URL = u.Redacted()
	}
	return r
}

// deliveriesRetryCmd makes failed deliveries due now.
type deliveriesRetryCmd struct {
	ID        int64 `arg:"" optional:"" help:"The delivery to retry (see deliveries list)."`
	AllFailed bool  `help:"Retry every failed or dead-lettered delivery."`
}

// Run requeues the delivery, or all failed ones.
func (c deliveriesRetryCmd) Run(e *env) error {
	if (c.ID != 0) == c.AllFailed {
		return &usageError{errors.New("deliveries retry: name one delivery ID or --all-failed")}
	}
	if c.ID < 0 {
		return &usageError{fmt.Errorf("deliveries retry: delivery ID must be positive, got %d", c.ID)}
	}
	st, err := openDeliveryStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	if c.AllFailed {
		n, err := st.RetryFailedDeliveries(e.ctx, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d failed deliveries are due now; a running clorebot serve sends them\n", n)
		return nil
	}
	err = st.RetryDelivery(e.ctx, c.ID, now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("delivery %d does not exist", c.ID)
	case errors.Is(err, storage.ErrConflict):
		return fmt.Errorf("delivery %d was delivered already: it is never sent again", c.ID)
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "delivery %d is due now; a running clorebot serve sends it\n", c.ID)
	return nil
}

// openDeliveryStore opens the configured database.
func openDeliveryStore(e *env) (*storage.Store, error) {
	cfg, err := e.loadWithoutClore()
	if err != nil {
		return nil, err
	}
	return openMigrated(e.ctx, cfg)
}

// newDispatcher builds the outbound webhook dispatcher over the App's store,
// with its metrics and logger; the caller runs it with Run and stops it
// through the context.
func (a *App) newDispatcher() (*webhook.Dispatcher, error) {
	subs, keys, err := deliveryOptions(a.cfg)
	if err != nil {
		return nil, err
	}
	obs := a.metrics.Deliveries()
	obs.Known([]string{webhook.TargetSubscriber, webhook.TargetCallback},
		[]string{webhook.ResultDelivered, webhook.ResultRejected, webhook.ResultTimeout, webhook.ResultError})
	return webhook.NewDispatcher(webhook.DispatcherOptions{
		Store: a.store, Subscribers: subs, KeySecrets: keys, Incoming: notifyTargets(a.cfg),
		CallbackAllowPrivate: a.cfg.Webhook.CallbackAllowPrivate,
		Observer:             obs, Logger: a.log,
	})
}

// notifyTargets are the notification-only sinks of DESIGN §4: a Slack
// incoming-webhook URL and a Discord webhook URL, each with its event
// filter, rendered by the bots' own renderers. They share the subscribers'
// durable queue and retry schedule.
func notifyTargets(cfg *config.Config) []webhook.IncomingTarget {
	var out []webhook.IncomingTarget
	n := cfg.Notify
	if u := n.SlackWebhookURL.Reveal(); u != "" {
		out = append(out, webhook.IncomingTarget{Name: "slack", URL: u, Events: n.SlackEvents, Render: slackbot.IncomingPayload})
	}
	if u := n.DiscordWebhookURL.Reveal(); u != "" {
		out = append(out, webhook.IncomingTarget{Name: "discord", URL: u, Events: n.DiscordEvents, Render: discordbot.IncomingPayload})
	}
	return out
}

// deliveryOptions builds the dispatcher's receivers from the configuration:
// subscribers with their own secrets, and the inbound keys whose secrets sign
// the answers to their requests' callback_url. Errors never quote a secret.
func deliveryOptions(cfg *config.Config) (subs []webhook.Subscriber, keys map[string][]byte, err error) {
	for i, s := range cfg.Webhook.Subscribers {
		secret, err := webhook.ParseSecret(s.Secret.Reveal())
		if err != nil {
			return nil, nil, fmt.Errorf("webhook.subscribers[%d].secret: %w", i, err)
		}
		subs = append(subs, webhook.Subscriber{URL: s.URL, Secret: secret, Events: s.Events})
	}
	keys = map[string][]byte{}
	for _, k := range cfg.Webhook.Keys {
		secret, err := webhook.ParseSecret(k.Secret.Reveal())
		if err != nil {
			return nil, nil, fmt.Errorf("webhook.keys %s: %w", k.Name, err)
		}
		keys[k.Name] = secret
	}
	return subs, keys, nil
}
