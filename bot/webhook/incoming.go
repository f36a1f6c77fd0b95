package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// Incoming-webhook targets: notification-only receivers such as a Slack
// incoming-webhook URL or a Discord webhook URL. They share the durable
// delivery queue and its retry schedule with subscribers, but get their
// platform's own JSON payload, unsigned (the URL is the credential), and a
// 429's pause is respected (Retry-After, or Discord's JSON retry_after).
// They never get callbacks, answers or connection details: only the
// lifecycle events of internal/events, whose data never holds secrets.

// TargetIncoming is the observer's target label of incoming-webhook targets.
const TargetIncoming = "incoming"

// notifyRefPrefix marks an incoming-webhook target's deliveries; the rest of
// the reference is the target's name.
const notifyRefPrefix = "notify:"

// IncomingTarget is a notification-only receiver.
type IncomingTarget struct {
	// Name identifies the target in delivery rows ("slack", "discord");
	// unique, never a secret.
	Name string
	// URL is where payloads are POSTed. It holds a token: it is never
	// logged or shown whole.
	URL string
	// Events filters event types; empty = all of events.Delivered.
	Events []string
	// Render builds the payload of an event; skip leaves the event out
	// (no delivery). It runs when the event is fanned out and again at
	// each attempt, so it must be deterministic.
	Render func(ev commands.Event) (payload []byte, skip bool, err error)
}

// IncomingRef is the secret reference of a target's deliveries, as
// `deliveries list` shows it.
func IncomingRef(name string) string { return notifyRefPrefix + name }

func checkIncoming(ts []IncomingTarget) error {
	seen := map[string]bool{}
	for i, t := range ts {
		switch {
		case t.Name == "" || strings.ContainsAny(t.Name, ": "):
			return fmt.Errorf("incoming target %d: a name without spaces or colons is required", i)
		case seen[t.Name]:
			return fmt.Errorf("incoming target %s: name repeats", t.Name)
		case t.Render == nil:
			return fmt.Errorf("incoming target %s: no renderer", t.Name)
		}
		if problem := deliveryURLProblem(t.URL, true); problem != "" {
			return fmt.Errorf("incoming target %s: URL: %s", t.Name, problem)
		}
		seen[t.Name] = true
	}
	return nil
}

// incomingOf lists ev's deliveries to incoming-webhook targets.
func (d *Dispatcher) incomingOf(ev commands.Event) []commands.NewDelivery {
	var out []commands.NewDelivery
	for _, t := range d.incoming {
		if len(t.Events) > 0 && !slices.Contains(t.Events, ev.Type) {
			continue
		}
		if _, skip, err := t.Render(ev); skip || err != nil {
			continue
		}
		out = append(out, commands.NewDelivery{EventID: ev.ID, URL: t.URL, SecretRef: IncomingRef(t.Name), MessageID: NewMessageID()})
	}
	return out
}

// eventOf is the outbox event a delivery carries.
func eventOf(dl commands.Delivery) commands.Event {
	ev := commands.Event{ID: dl.EventID, Type: dl.EventType, Data: dl.EventData, CreatedAt: dl.EventAt}
	var ref struct {
		OrderID *int64 `json:"order_id"`
		JobID   string `json:"job_id"`
	}
	if json.Unmarshal(dl.EventData, &ref) == nil {
		ev.OrderID, ev.JobID = ref.OrderID, ref.JobID
	}
	return ev
}

// deliverIncoming makes one attempt at an incoming-webhook delivery.
func (d *Dispatcher) deliverIncoming(ctx context.Context, dl commands.Delivery, name string) error {
	at := d.now()
	i := slices.IndexFunc(d.incoming, func(t IncomingTarget) bool { return t.Name == name })
	problem := ""
	var body []byte
	if i < 0 {
		problem = "the notify target " + name + " is no longer configured"
	} else if t := d.incoming[i]; t.URL != dl.URL {
		problem = "the notify target " + name + " has another URL now"
	} else {
		var skip bool
		var err error
		if body, skip, err = t.Render(eventOf(dl)); err != nil || skip {
			problem = "the event cannot be rendered for " + name
		}
	}
	if problem != "" {
		return d.record(ctx, dl, TargetIncoming, commands.DeliveryAttempt{ID: dl.ID, At: at, Error: problem, State: commands.DeliveryDead})
	}
	start := time.Now()
	status, retryAfter, err := d.postIncoming(ctx, dl.URL, body)
	took := time.Since(start)
	if ctx.Err() != nil {
		return nil
	}
	a, result := d.outcome(dl, at, status, err, retryAfter)
	if status == http.StatusTooManyRequests && retryAfter > 0 {
		a.Error = fmt.Sprintf("HTTP 429: rate limited, retry after %s", retryAfter)
	}
	d.obs.ObserveDeliveryAttempt(TargetIncoming, result, took)
	return d.record(ctx, dl, TargetIncoming, a)
}

// postIncoming POSTs body and returns the status and, for a 429, the pause
// the receiver asked for.
func (d *Dispatcher) postIncoming(ctx context.Context, url string, body []byte) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return 0, 0, errors.New("the URL does not parse")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", deliveryAgent)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxDrainedBytes))
	if resp.StatusCode != http.StatusTooManyRequests {
		return resp.StatusCode, 0, nil
	}
	return resp.StatusCode, retryAfterOf(resp.Header, answer), nil
}

// retryAfterOf reads a 429's pause: Discord's JSON retry_after (seconds,
// fractional), else the Retry-After header (seconds); at most an hour.
func retryAfterOf(h http.Header, body []byte) time.Duration {
	var discord struct {
		RetryAfter float64 `json:"retry_after"`
	}
	secs := 0.0
	if json.Unmarshal(body, &discord) == nil && discord.RetryAfter > 0 {
		secs = discord.RetryAfter
	} else if v, err := strconv.ParseFloat(strings.TrimSpace(h.Get("Retry-After")), 64); err == nil && v > 0 {
		secs = v
	}
	if math.IsNaN(secs) || math.IsInf(secs, 0) {
		return 0
	}
	return min(time.Duration(secs*float64(time.Second)), time.Hour)
}
