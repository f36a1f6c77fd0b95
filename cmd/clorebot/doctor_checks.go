package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

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
		d.add(levelWarning, "clock", "could not read Clore's clock: "+transportError(err), "")
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

// checkSlack: the bot token (auth.test) and Socket Mode with the app token.
func (d *doctor) checkSlack() {
	s := d.cfg.Slack
	bot, app := s.BotToken.Reveal(), s.AppToken.Reveal()
	if bot == "" && app == "" {
		if s.SigningSecret.Reveal() != "" {
			d.add(levelOK, "slack", "HTTP mode only (signing secret set, no tokens): /slack/commands answers, nothing is posted later", "")
		} else {
			d.add(levelOK, "slack", "not configured", "")
		}
		return
	}
	if bot == "" || app == "" {
		d.add(levelWarning, "slack", "only one of slack.bot_token and slack.app_token is set: Socket Mode needs both", "set the other token, or neither")
	}
	opts := []slack.Option{slack.OptionAPIURL(s.APIURL), slack.OptionHTTPClient(d.client)}
	if bot != "" {
		ctx, cancel := d.ctx()
		res, err := slack.New(bot, opts...).AuthTestContext(ctx)
		cancel()
		if err != nil {
			d.add(levelFailed, "slack", "bot token refused by auth.test: "+slackError(err),
				"install the app again (OAuth & Permissions) and set slack.bot_token to its xoxb- token")
		} else {
			d.add(levelOK, "slack", fmt.Sprintf("bot token accepted: %s in team %s", res.User, res.Team), "")
			if s.TeamID != "" && s.TeamID != res.TeamID {
				d.add(levelWarning, "slack", fmt.Sprintf("slack.team_id %s is not the bot token's workspace %s: requests from %s are refused",
					s.TeamID, res.TeamID, res.TeamID), "set slack.team_id to "+res.TeamID+", or leave it empty to serve the bot token's workspace")
			}
		}
	}
	if bot != "" && app != "" {
		ctx, cancel := d.ctx()
		_, _, err := slack.New(bot, append(opts, slack.OptionAppLevelToken(app))...).StartSocketModeContext(ctx)
		cancel()
		if err != nil {
			d.add(levelFailed, "slack", "Socket Mode not possible with the app token (apps.connections.open): "+slackError(err),
				"enable Socket Mode and create an app-level token with connections:write; set slack.app_token")
		} else {
			d.add(levelOK, "slack", "app token accepted: Socket Mode possible", "")
		}
	}
}

// slackError is Slack's error code without anything that could be a token.
func slackError(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return transportError(err)
}

// checkDiscord: the bot token (users/@me) and the /clore command's
// registration.
func (d *doctor) checkDiscord() {
	c := d.cfg.Discord
	token := c.BotToken.Reveal()
	if token == "" {
		if c.PublicKey != "" {
			d.add(levelOK, "discord", "HTTP interactions only (public key set, no bot token)", "")
		} else {
			d.add(levelOK, "discord", "not configured", "")
		}
		return
	}
	var me struct {
		Username string `json:"username"`
		ID       string `json:"id"`
	}
	status, err := d.discordGet(token, "users/@me", &me)
	switch {
	case err != nil:
		d.add(levelFailed, "discord", "Discord did not answer: "+err.Error(), "check discord.api_url and the network")
		return
	case status == http.StatusUnauthorized:
		d.add(levelFailed, "discord", "bot token refused (401)", "reset the bot token in the Developer Portal → Bot and set discord.bot_token")
		return
	case status != http.StatusOK:
		d.add(levelFailed, "discord", fmt.Sprintf("users/@me answered HTTP %d", status), "check discord.api_url")
		return
	}
	d.add(levelOK, "discord", "bot token accepted: "+me.Username, "")
	app := c.ApplicationID
	if app == "" {
		app = me.ID
	}
	// With guild_ids, serve registers /clore in those guilds only: it is
	// expected there, not globally (where a leftover shows it twice).
	var paths []string
	for _, g := range c.GuildIDs {
		paths = append(paths, "applications/"+app+"/guilds/"+g+"/commands")
	}
	if len(paths) > 0 {
		d.leftoverGlobal(token, app)
	} else {
		paths = []string{"applications/" + app + "/commands"}
	}
	for _, p := range paths {
		var cmds []struct {
			Name string `json:"name"`
		}
		status, err := d.discordGet(token, p, &cmds)
		where := "globally"
		if strings.Contains(p, "/guilds/") {
			where = "in guild " + strings.Split(p, "/")[3]
		}
		switch {
		case err != nil || status != http.StatusOK:
			d.add(levelWarning, "discord", fmt.Sprintf("could not list the commands registered %s (HTTP %d)", where, status), "check discord.application_id")
		case !hasCommand(cmds, "clore"):
			d.add(levelWarning, "discord", "/clore is not registered "+where, "clorebot serve registers it at start; invite the bot with the applications.commands scope")
		default:
			d.add(levelOK, "discord", "/clore is registered "+where, "")
		}
	}
}

// leftoverGlobal warns about a global /clore beside the guild commands of
// discord.guild_ids: members of those guilds see /clore twice.
func (d *doctor) leftoverGlobal(token, app string) {
	var cmds []struct {
		Name string `json:"name"`
	}
	status, err := d.discordGet(token, "applications/"+app+"/commands", &cmds)
	if err == nil && status == http.StatusOK && hasCommand(cmds, "clore") {
		d.add(levelWarning, "discord", "/clore is also registered globally while discord.guild_ids is set: members see it twice",
			"remove the global command (clorebot registers in the guilds only)")
	}
}

func hasCommand(cmds []struct {
	Name string `json:"name"`
}, name string) bool {
	for _, c := range cmds {
		if c.Name == name {
			return true
		}
	}
	return false
}

// discordGet GETs <api_url>api/v9/<path> as the bot and decodes a 200.
func (d *doctor) discordGet(token, path string, v any) (int, error) {
	ctx, cancel := d.ctx()
	defer cancel()
	base := strings.TrimSuffix(d.cfg.Discord.APIURL, "/") + "/api/v9/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, errors.New("discord.api_url does not parse")
	}
	req.Header.Set("Authorization", "Bot "+token)
	req.Header.Set("User-Agent", "DiscordBot (https://github.com/clorebot/clorebot, 1) clorebot-doctor")
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, errors.New(transportError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
			return resp.StatusCode, errors.New("unreadable answer")
		}
	}
	return resp.StatusCode, nil
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
		d.add(levelFailed, check, name+": not delivered: "+transportError(err), "check the URL and that the receiver runs")
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
		d.add(levelFailed, check, fmt.Sprintf("%s: %s unreachable: %s", name, u.Host, transportError(err)),
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

// transportError describes a failed exchange without its URL (which may
// hold a token).
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	return err.Error()
}

// hostOf is a URL's host, for messages.
func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return "(clore.api_url)"
}
