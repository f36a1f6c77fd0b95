package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/config"
)

// deliveriesTestCmd sends a signed test.ping to subscribers at once.
type deliveriesTestCmd struct {
	Subscriber string `placeholder:"NAME|URL" help:"Only the subscriber with this name or URL (default: every subscriber)."`
	JSON       bool   `help:"One JSON object per line."`
}

// pingRow is one receiver's answer, as `deliveries test --json` prints it.
type pingRow struct {
	Subscriber string `json:"subscriber"`
	URL        string `json:"url"`
	MessageID  string `json:"message_id"`
	OK         bool   `json:"ok"`
	Status     int    `json:"status,omitempty"`
	LatencyMS  int64  `json:"latency_ms"`
	Error      string `json:"error,omitempty"`
}

// pingJSON is a pingRow as `deliveries test --json` prints it, in the
// vocabulary of machine answers: the latency in seconds, null for what is
// absent (docs/schema/ping.json).
type pingJSON struct {
	Subscriber     string  `json:"subscriber"`
	URL            string  `json:"url"`
	MessageID      *string `json:"message_id"`
	OK             bool    `json:"ok"`
	Status         *int    `json:"status"`
	LatencySeconds float64 `json:"latency_seconds"`
	Error          *string `json:"error"`
}

func (r pingRow) machine() pingJSON {
	j := pingJSON{Subscriber: r.Subscriber, URL: r.URL, MessageID: commands.Nullable(r.MessageID), OK: r.OK,
		LatencySeconds: float64(r.LatencyMS) / 1000, Error: commands.Nullable(r.Error)}
	if r.Status != 0 {
		status := r.Status
		j.Status = &status
	}
	return j
}

// Run pings the subscribers and prints each answer; it exits 1 unless every
// one answered 2xx. The ping is not queued: it is sent once, now, and not
// retried.
func (c deliveriesTestCmd) Run(e *env) error {
	cfg, err := e.loadWithoutClore()
	if err != nil {
		return err
	}
	picked, err := c.pick(cfg)
	if err != nil {
		return err
	}
	var rows []pingRow
	for _, i := range picked {
		rows = append(rows, pingSubscriber(e, subscriberName(i, cfg.Webhook.Subscribers[i]), cfg.Webhook.Subscribers[i]))
	}
	failedAny := slices.ContainsFunc(rows, func(r pingRow) bool { return !r.OK })
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		for _, r := range rows {
			if err := enc.Encode(r.machine()); err != nil {
				return err
			}
		}
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SUBSCRIBER\tURL\tANSWER\tLATENCY\tWEBHOOK-ID")
		for _, r := range rows {
			answer := fmt.Sprintf("HTTP %d", r.Status)
			switch {
			case r.Error != "":
				answer = "failed: " + r.Error
			case r.OK:
				answer += " ok"
			default:
				answer += " (not 2xx: a delivery would be retried)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%dms\t%s\n", r.Subscriber, r.URL, answer, r.LatencyMS, r.MessageID)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if failedAny {
		return &exitError{code: exitFailure, msg: "deliveries test: a receiver did not answer 2xx"}
	}
	return nil
}

// pick selects the subscribers to ping, by index.
func (c deliveriesTestCmd) pick(cfg *config.Config) ([]int, error) {
	all := cfg.Webhook.Subscribers
	if len(all) == 0 {
		return nil, &usageError{fmt.Errorf("deliveries test: no [[webhook.subscribers]] configured")}
	}
	var out []int
	for i, s := range all {
		if c.Subscriber == "" || s.Name == c.Subscriber || s.URL == c.Subscriber {
			out = append(out, i)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	var names []string
	for i, s := range all {
		names = append(names, subscriberName(i, s))
	}
	return nil, &usageError{fmt.Errorf("deliveries test: no subscriber named or at %q; configured: %s",
		c.Subscriber, strings.Join(names, ", "))}
}

// subscriberName is a subscriber's name, or its position when it has none.
func subscriberName(i int, s config.WebhookSubscriber) string {
	if s.Name != "" {
		return s.Name
	}
	return fmt.Sprintf("#%d", i+1)
}

// pingSubscriber sends one test.ping signed with the subscriber's secret.
func pingSubscriber(e *env, name string, s config.WebhookSubscriber) pingRow {
	row := pingRow{Subscriber: name, URL: redactURL(s.URL)}
	secret, err := webhook.ParseSecret(s.Secret.Reveal())
	if err != nil {
		row.Error = "secret: " + err.Error()
		return row
	}
	res, err := webhook.Ping(e.ctx, nil, s.URL, secret, webhook.PingData{
		Subscriber: commands.Nullable(row.Subscriber), Message: "test.ping from clorebot deliveries test",
	}, time.Now())
	row.MessageID, row.Status, row.OK, row.LatencyMS = res.MessageID, res.Status, err == nil && res.OK(), res.Latency.Milliseconds()
	if err != nil {
		row.Error = err.Error()
	}
	return row
}

// redactURL hides a URL's password; the rest is the operator's own
// configuration.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}
