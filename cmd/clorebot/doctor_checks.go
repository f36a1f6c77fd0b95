package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
)

// checkOrders: no order clorebot runs is past its end (its TTL). Each one
// that is gets a line of its own with its id and how long past: failed,
// unless a running serve will cancel it at its next tick (warning). A
// serve enforces every end; without one, ends pass unenforced.
func (d *doctor) checkOrders(ctx context.Context, st *storage.Store) {
	orders, err := st.ListOrders(ctx, commands.OrderFilter{States: []string{commands.OrderProvisioning, commands.OrderRunning, commands.OrderCancelling}})
	if err != nil {
		d.add(levelWarning, "orders", "cannot list the orders: "+err.Error(), "")
		return
	}
	serve, alive, err := liveServe(ctx, st)
	if err != nil {
		d.add(levelWarning, "orders", "cannot tell whether a serve runs: "+err.Error(), "")
	}
	now := time.Now()
	// An end passed less than two ticks ago is the next tick's to cancel.
	grace := 2 * d.cfg.Watch.Interval.Duration
	overdue := 0
	for _, o := range orders {
		if o.ExpiresAt == nil || o.ExpiresAt.After(now) {
			continue
		}
		overdue++
		id, cancel := fmt.Sprintf("with local id %d", o.ID), "cancel it on clore.ai (its Clore id is not known yet)"
		if o.CloreOrderID != nil {
			id = fmt.Sprintf("#%d", *o.CloreOrderID)
			cancel = d.e.cliCommand(fmt.Sprintf("exec cancel %d", *o.CloreOrderID))
		}
		found := fmt.Sprintf("order %s (%s ×%d, %s) is %s past its end (%s) and still %s",
			id, o.GPUModel, o.GPUCount, o.RequestedBy, pastDue(*o.ExpiresAt, now), o.ExpiresAt.UTC().Format("2006-01-02 15:04 MST"), o.State)
		switch {
		case alive && now.Sub(*o.ExpiresAt) < grace:
			d.add(levelWarning, "orders", found, "serve ("+describeServe(serve)+") cancels it at its next tick")
		case alive:
			d.add(levelFailed, "orders", found, "serve ("+describeServe(serve)+") runs but has not cancelled it: see its log; or "+cancel)
		default:
			d.add(levelFailed, "orders", found, "no clorebot serve runs on this database to cancel it: start one, or "+cancel)
		}
	}
	switch {
	case overdue > 0:
	case alive:
		d.add(levelOK, "orders", fmt.Sprintf("%d active, none past its end; serve (%s) enforces their ends", len(orders), describeServe(serve)), "")
	case len(orders) > 0:
		d.add(levelWarning, "orders", fmt.Sprintf("%d active, none past its end yet, but no clorebot serve runs on this database: nothing cancels them at their end", len(orders)),
			"run clorebot serve on this database")
	default:
		d.add(levelOK, "orders", "no active orders", "")
	}
}

// checkClore: the key is accepted (wallets), the balances, and the clock
// against Clore's Date header.
func (d *doctor) checkClore() {
	c := d.cfg.Clore
	if c.Sandbox {
		d.add(levelOK, "clore", "sandbox mode: the built-in simulated marketplace answers; no API key to check", "")
		return
	}
	client := clore.New(clore.Options{BaseURL: c.APIURL, APIKey: c.APIKey.Reveal(), UserAgent: c.UserAgent,
		Timeout: d.timeout, MaxRetries: 0, Interval: c.MinInterval.Duration, CreateInterval: c.CreateInterval.Duration,
		Slots: clore.NewMemorySlots()})
	ctx, cancel := d.ctx()
	defer cancel()
	wallets, err := client.Wallets(clore.WithPriority(ctx, clore.Background))
	switch {
	case errors.Is(err, clore.ErrAuth):
		d.add(levelFailed, "clore", "Clore refused the API key (code 3, invalid token)",
			"set clore.api_key (or CLOREBOT_CLORE_API_KEY_FILE) to a key from clore.ai → Profile → API")
		return
	case errors.Is(err, clore.ErrRateLimited):
		d.add(levelWarning, "clore", "Clore rate limited the check (code 5): another process uses the key right now", "run doctor again in a few seconds")
	case err != nil:
		d.add(levelFailed, "clore", "Clore did not answer properly at "+hostOf(c.APIURL)+": "+err.Error(),
			"check clore.api_url and the network (proxy, DNS, firewall)")
		return
	default:
		var parts []string
		for _, w := range wallets {
			parts = append(parts, fmt.Sprintf("%s %g", w.Name, w.Balance))
		}
		found := "key accepted; wallets: " + strings.Join(parts, ", ")
		if len(parts) == 0 {
			found = "key accepted; no wallets"
		}
		d.add(levelOK, "clore", found, "")
	}
	d.checkClock(c.APIURL)
}

// checkClock compares our clock with Clore's Date header: rents reconcile
// orders by their creation time (2 min of slack) and webhook signatures
// allow 5 min.
func (d *doctor) checkClock(apiURL string) {
	ctx, cancel := d.ctx()
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, apiURL, nil)
	if err != nil {
		return
	}
	before := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		d.add(levelWarning, "clock", "could not read Clore's clock: "+chat.TransportError(err), "")
		return
	}
	resp.Body.Close()
	after := time.Now()
	theirs, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		d.add(levelWarning, "clock", "Clore's answer has no Date header to compare clocks with", "")
		return
	}
	ours := before.Add(after.Sub(before) / 2)
	skew := ours.Sub(theirs).Round(time.Second)
	abs := max(skew, -skew)
	found := fmt.Sprintf("skew against Clore's Date header: %s (1 s resolution)", skew)
	switch {
	case abs > 2*time.Minute:
		d.add(levelFailed, "clock", found, "synchronise the clock (chrony/systemd-timesyncd): rents match orders by creation time and webhook signatures allow 5 min")
	case abs > 30*time.Second:
		d.add(levelWarning, "clock", found, "synchronise the clock (chrony/systemd-timesyncd)")
	default:
		d.add(levelOK, "clock", found, "")
	}
}

// checkWebhookKeys: every key's secret decodes and is long enough.
func (d *doctor) checkWebhookKeys() {
	w := d.cfg.Webhook
	if len(w.Keys) == 0 {
		d.add(levelOK, "webhook", "no webhook keys: every signed /webhook/* request is refused", "")
	}
	for _, k := range w.Keys {
		secret, err := webhook.ParseSecret(k.Secret.Reveal())
		switch {
		case err != nil:
			d.add(levelFailed, "webhook", "key "+k.Name+": "+err.Error(), "give it a whsec_<base64> secret or a long random text")
		case len(secret) < 24:
			d.add(levelWarning, "webhook", fmt.Sprintf("key %s: secret of %d bytes", k.Name, len(secret)), "use at least 24 random bytes: whsec_$(openssl rand -base64 32)")
		case len(k.Roles) == 0:
			d.add(levelWarning, "webhook", "key "+k.Name+" has no roles: it can do what policy.default_role allows", "give it roles = [\"renter\"] or [\"viewer\"]")
		default:
			d.add(levelOK, "webhook", fmt.Sprintf("key %s: secret ok, roles %s", k.Name, strings.Join(k.Roles, ", ")), "")
		}
	}
	if w.LegacySignatures {
		d.add(levelWarning, "webhook", "webhook.legacy_signatures is on: unsigned-timestamp requests are accepted on the original routes",
			"move callers to Standard Webhooks (clorebot webhook sign) and turn it off")
	}
}

// checkReceivers: every subscriber and notify URL is reachable; with --send
// it gets a test.ping (subscribers) or a test message (notify URLs).
func (d *doctor) checkReceivers() {
	for i, s := range d.cfg.Webhook.Subscribers {
		name := "subscriber " + subscriberName(i, s)
		if !d.send {
			d.checkReachable("delivery", name, s.URL)
			continue
		}
		secret, err := webhook.ParseSecret(s.Secret.Reveal())
		if err != nil {
			d.add(levelFailed, "delivery", name+": secret: "+err.Error(), "fix its secret")
			continue
		}
		ctx, cancel := d.ctx()
		res, err := webhook.Ping(ctx, d.client, s.URL, secret, webhook.PingData{Subscriber: commands.Nullable(subscriberName(i, s)), Message: "test.ping from clorebot doctor"}, time.Now())
		cancel()
		d.addSent("delivery", name, res.Status, res.Latency, err)
	}
	n := d.cfg.Notify
	for _, t := range []struct{ name, url, payload string }{
		{"notify slack", n.SlackWebhookURL.Reveal(), `{"text":"clorebot doctor: test message (notifications reach this channel)"}`},
		{"notify discord", n.DiscordWebhookURL.Reveal(), `{"content":"clorebot doctor: test message (notifications reach this channel)"}`},
	} {
		if t.url == "" {
			continue
		}
		if !d.send {
			d.checkReachable("delivery", t.name, t.url)
			continue
		}
		ctx, cancel := d.ctx()
		start := time.Now()
		status, err := postJSON(ctx, d.client, t.url, t.payload)
		cancel()
		d.addSent("delivery", t.name, status, time.Since(start), err)
	}
}

// addSent reports a test message's answer.
func (d *doctor) addSent(check, name string, status int, took time.Duration, err error) {
	switch {
	case err != nil:
		d.add(levelFailed, check, name+": not delivered: "+chat.TransportError(err), "check the URL and that the receiver runs")
	case status < 200 || status > 299:
		d.add(levelFailed, check, fmt.Sprintf("%s: answered HTTP %d", name, status), "check the receiver (a revoked Slack/Discord webhook answers 404)")
	default:
		d.add(levelOK, check, fmt.Sprintf("%s: test message answered HTTP %d in %s", name, status, took.Round(time.Millisecond)), "")
	}
}

// checkReachable connects to the URL's host without sending anything.
func (d *doctor) checkReachable(check, name, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		d.add(levelFailed, check, name+": not an http(s) URL", "fix the URL")
		return
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ctx, cancel := d.ctx()
	defer cancel()
	start := time.Now()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		d.add(levelFailed, check, fmt.Sprintf("%s: %s unreachable: %s", name, u.Host, chat.TransportError(err)),
			"check the URL and that the receiver runs (doctor --send sends a test message)")
		return
	}
	conn.Close()
	d.add(levelOK, check, fmt.Sprintf("%s: %s reachable (connected in %s; --send sends a test message)", name, u.Hostname(), time.Since(start).Round(time.Millisecond)), "")
}

// postJSON POSTs body and returns the status.
func postJSON(ctx context.Context, client *http.Client, rawURL, body string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, errors.New("the URL does not parse")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// hostOf is a URL's host, for messages.
func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return "(clore.api_url)"
}
