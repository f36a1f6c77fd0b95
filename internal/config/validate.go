package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// KeyError is one configuration problem: the key ("clore.api_key",
// "webhook.keys[1].name") or environment variable it concerns, and why.
type KeyError struct {
	Key     string
	Problem string
	Err     error // the underlying cause, if any
}

// Error formats "config: <key>: <problem>[: <cause>]".
func (e *KeyError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("config: %s: %s: %s", e.Key, e.Problem, e.Err)
	}
	return fmt.Sprintf("config: %s: %s", e.Key, e.Problem)
}

// Unwrap returns the underlying cause.
func (e *KeyError) Unwrap() error { return e.Err }

// Roles a policy may grant; DefaultRole may also be roleNone.
const (
	roleAdmin  = "admin"
	roleRenter = "renter"
	roleViewer = "viewer"
	roleNone   = "none"
)

// Validate reports every problem of c, each a *KeyError, joined with errors.Join;
// nil when c is usable.
func (c *Config) Validate() error { return c.validate(nil) }

// validate is Validate with the identity platforms of front doors beyond
// identityPlatforms (LoadOptions.Platforms).
func (c *Config) validate(platforms []string) error {
	v := validator{platforms: platforms}
	c.validateClore(&v)
	c.validateServices(&v)
	c.validatePolicy(&v)
	c.validateWebhook(&v)
	c.validateSandbox(&v)
	return errors.Join(v.errs...)
}

func (c *Config) validateClore(v *validator) {
	cl := c.Clore
	v.httpURL("clore.api_url", cl.APIURL)
	if cl.APIKey == "" && !cl.Sandbox {
		env := envKey("clore.api_key")
		v.fail("clore.api_key", "required unless clore.sandbox is true (set %s or %s)", env, env+fileSuffix)
	}
	v.nonEmpty("clore.user_agent", cl.UserAgent)
	v.positive("clore.timeout", cl.Timeout)
	v.intRange("clore.max_retries", cl.MaxRetries, 0, 10)
	// Clore allows 1 request/s and one create_order per 5 s; only the sandbox may go faster.
	minFloor, createFloor, watchFloor := time.Second, 5*time.Second, 10*time.Second
	if cl.Sandbox {
		minFloor, createFloor, watchFloor = 0, 0, time.Second
	}
	const why = "Clore's limit; lower only with clore.sandbox = true"
	v.atLeast("clore.min_interval", cl.MinInterval, minFloor, why)
	v.atLeast("clore.create_interval", cl.CreateInterval, createFloor, why)
	v.atLeast("watch.interval", c.Watch.Interval, watchFloor, "1s with clore.sandbox = true")
	v.positive("clore.provision_timeout", cl.ProvisionTimeout)
	if !cl.Sandbox && cl.ProvisionTimeout.Duration >= creationFeeGrace {
		v.fail("clore.provision_timeout", "must be under %s, Clore's grace before an order pays its creation fee "+
			"(longer only with clore.sandbox = true), got %s", Duration{creationFeeGrace}, cl.ProvisionTimeout)
	}
	v.fraction("clore.renter_fee_on_demand", cl.RenterFeeOnDemand)
	v.fraction("clore.renter_fee_spot", cl.RenterFeeSpot)
}

// creationFeeGrace is how long an order may run before Clore charges its
// creation fee (shared/clore-api.md §10: charged once it has run 10 minutes).
const creationFeeGrace = 10 * time.Minute

func (c *Config) validateServices(v *validator) {
	v.nonEmpty("storage.path", c.Storage.Path)
	if p := c.Storage.Path; p == ":memory:" || strings.HasPrefix(p, "file:") {
		v.fail("storage.path", "want a file path, got %q: jobs, leases and dedup records must outlive the process and be shared with `clorebot exec`", p)
	}
	if u := c.Storage.URL.Reveal(); u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		v.fail("storage.url", "want a PostgreSQL URL (postgres://user@host:5432/db), or empty for SQLite at storage.path")
	}
	v.listenAddr("http.listen", c.HTTP.Listen)
	if c.HTTP.MetricsListen != "" {
		v.listenAddr("http.metrics_listen", c.HTTP.MetricsListen)
		if c.HTTP.MetricsListen == c.HTTP.Listen && !strings.HasSuffix(c.HTTP.Listen, ":0") {
			v.fail("http.metrics_listen", "%q is http.listen's address too: leave it empty to serve /metrics on http.listen", c.HTTP.MetricsListen)
		}
	}
	v.positive("http.read_header_timeout", c.HTTP.ReadHeaderTimeout)
	v.positive("http.read_timeout", c.HTTP.ReadTimeout)
	v.positive("http.write_timeout", c.HTTP.WriteTimeout)
	v.positive("http.idle_timeout", c.HTTP.IdleTimeout)
	v.positive("http.shutdown_timeout", c.HTTP.ShutdownTimeout)

	v.httpURL("slack.api_url", c.Slack.APIURL)
	if c.Slack.AppToken != "" && c.Slack.BotToken == "" {
		v.fail("slack.bot_token", "required when slack.app_token is set (Socket Mode needs both tokens)")
	}
	if c.Slack.SigningSecret != "" && c.Slack.BotToken == "" {
		v.fail("slack.bot_token", "required when slack.signing_secret is set (HTTP mode answers through the Web API)")
	}
	if id := c.Slack.TeamID; id != "" && !isSlackTeam(id) {
		v.fail("slack.team_id", "want a Slack workspace id such as T0123ABCD, got %q", id)
	}
	v.httpURL("discord.api_url", c.Discord.APIURL)
	if id := c.Discord.ApplicationID; id != "" && !isSnowflake(id) {
		v.fail("discord.application_id", "want a numeric Discord id, got %q", id)
	}
	if pk := c.Discord.PublicKey; pk != "" && !isHex(pk, 64) {
		v.fail("discord.public_key", "want the application's public key: 64 hexadecimal characters")
	}
	for _, id := range c.Discord.GuildIDs {
		if !isSnowflake(id) {
			v.fail("discord.guild_ids", "want numeric Discord guild ids, got %q", id)
		}
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")
}

func (c *Config) validatePolicy(v *validator) {
	p := c.Policy
	v.identities("policy.admins", p.Admins)
	v.identities("policy.renters", p.Renters)
	v.identities("policy.viewers", p.Viewers)
	v.oneOf("policy.default_role", p.DefaultRole, roleAdmin, roleRenter, roleViewer, roleNone)
	v.number("policy.max_price_per_hour", p.MaxPricePerHour, 0, math.MaxFloat64)
	v.intRange("policy.max_orders_per_hour", p.MaxOrdersPerHour, 0, math.MaxInt)
	v.intRange("policy.max_active_orders", p.MaxActiveOrders, 0, math.MaxInt)
	v.intRange("policy.max_team_active_orders", p.MaxTeamActiveOrders, 0, math.MaxInt)
	v.intRange("policy.max_watches_per_user", p.MaxWatchesPerUser, 1, math.MaxInt)
	v.number("policy.max_hourly_spend", p.MaxHourlySpend, 0, math.MaxFloat64)
	v.number("policy.confirm_above", p.ConfirmAbove, 0, math.MaxFloat64)
	v.number("policy.max_hours", p.MaxHours, math.SmallestNonzeroFloat64, math.MaxFloat64)
	maxHours := p.MaxHours
	if math.IsNaN(maxHours) || maxHours <= 0 {
		maxHours = math.MaxFloat64 // already reported; do not report default_hours twice
	}
	if v.number("policy.default_hours", p.DefaultHours, math.SmallestNonzeroFloat64, math.MaxFloat64) &&
		p.DefaultHours > maxHours {
		v.fail("policy.default_hours", "must not exceed policy.max_hours (%g), got %g", p.MaxHours, p.DefaultHours)
	}
	v.number("policy.min_reliability", p.MinReliability, 0, 1)
	v.atLeast("policy.reminder_before", p.ReminderBefore, 0, "")
	v.positive("policy.confirm_ttl", p.ConfirmTTL)
	v.number("watch.rearm_margin", c.Watch.RearmMargin, 0, 10)
	v.positive("watch.cooldown", c.Watch.Cooldown)
	v.number("watch.low_balance_usd", c.Watch.LowBalanceUSD, 0, math.MaxFloat64)
	v.number("policy.monthly_budget_usd", p.MonthlyBudgetUSD, 0, math.MaxFloat64)
	v.number("policy.team_monthly_budget_usd", p.TeamMonthlyBudgetUSD, 0, math.MaxFloat64)
	v.oneOf("policy.budget_action", p.BudgetAction, "notify", "cancel")
	c.validateReport(v)
	for _, u := range []struct{ key, url string }{
		{"notify.slack_webhook_url", string(c.Notify.SlackWebhookURL)},
		{"notify.discord_webhook_url", string(c.Notify.DiscordWebhookURL)},
	} {
		if u.url != "" {
			v.httpURL(u.key, u.url)
		}
	}
	for _, cidr := range c.HTTP.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			v.fail("http.trusted_proxies", "want CIDRs such as 10.0.0.0/8, got %q", cidr)
		}
	}
}

func (c *Config) validateSandbox(v *validator) {
	s := c.Sandbox
	v.intRange("sandbox.servers", s.Servers, 1, 1_000_000)
	v.number("sandbox.drift_per_hour", s.DriftPerHour, 0, 1)
	v.atLeast("sandbox.provision_delay", s.ProvisionDelay, 0, "")
	v.nonEmpty("sandbox.api_key", s.APIKey)
}

func isSnowflake(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// isSlackTeam accepts a Slack workspace id: "T" and upper-case letters and
// digits (Enterprise Grid workspaces too; an org id starts with "E").
func isSlackTeam(s string) bool {
	if len(s) < 2 || len(s) > 32 || s[0] != 'T' {
		return false
	}
	for _, r := range s[1:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	return strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}

// validator collects problems.
type validator struct {
	errs      []error
	platforms []string // identity platforms besides the table's
}

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, &KeyError{Key: key, Problem: fmt.Sprintf(format, args...)})
}

func (v *validator) nonEmpty(key, s string) {
	if strings.TrimSpace(s) == "" {
		v.fail(key, "must not be empty")
	}
}

func (v *validator) oneOf(key, s string, allowed ...string) {
	if !slices.Contains(allowed, s) {
		v.fail(key, "want one of %s, got %q", strings.Join(allowed, ", "), s)
	}
}

func (v *validator) positive(key string, d Duration) {
	if d.Duration <= 0 {
		v.fail(key, "must be a positive duration, got %s", d)
	}
}

// atLeast checks d >= floor; why explains the floor.
func (v *validator) atLeast(key string, d Duration, floor time.Duration, why string) {
	if d.Duration >= floor {
		return
	}
	if why != "" {
		why = " (" + why + ")"
	}
	v.fail(key, "must be at least %s%s, got %s", Duration{floor}, why, d)
}

func (v *validator) intRange(key string, n, lo, hi int) {
	switch {
	case n < lo && lo == 0:
		v.fail(key, "must not be negative, got %d", n)
	case n < lo || n > hi:
		v.fail(key, "must be between %d and %d, got %d", lo, hi, n)
	}
}

// number checks that x is finite and in [lo, hi]; it reports whether it is.
func (v *validator) number(key string, x, lo, hi float64) bool {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		v.fail(key, "must be a finite number, got %g", x)
	case x < lo && lo == 0:
		v.fail(key, "must not be negative, got %g", x)
	case x < lo && lo == math.SmallestNonzeroFloat64:
		v.fail(key, "must be positive, got %g", x)
	case x < lo || x > hi:
		v.fail(key, "must be between %g and %g, got %g", lo, hi, x)
	default:
		return true
	}
	return false
}

// fraction checks that x is a rate in [0, 1).
func (v *validator) fraction(key string, x float64) {
	if v.number(key, x, 0, 1) && x == 1 {
		v.fail(key, "must be below 1 (a fraction of the price: 0.10 is 10%%), got %g", x)
	}
}

func (v *validator) httpURL(key, s string) {
	if problem := checkHTTPURL(s); problem != "" {
		v.fail(key, "%s", problem)
	}
}

// checkHTTPURL returns why s is not an absolute http(s) URL, or "".
func checkHTTPURL(s string) string {
	if s == "" {
		return "must not be empty"
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("want an http:// or https:// URL, got %q", s)
	}
	return ""
}

func (v *validator) listenAddr(key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		n, perr := strconv.Atoi(port)
		err = perr
		if perr == nil && (n < 0 || n > 65535) {
			err = errors.New("port out of range")
		}
	}
	if err != nil {
		v.fail(key, `want host:port such as ":8080" or "127.0.0.1:8080", got %q`, addr)
	}
}

// identityPlatform is a prefix of the identities policy lists name
// ("slack:U123"): a front door's users, or a role on its platform.
type identityPlatform struct {
	Name    string
	Example string // a valid identity, for the messages ("" for roles)
	// Check, when set, says what is wrong with the part after the colon
	// ("" when nothing is).
	Check func(id string) string
}

// identityPlatforms is the one table of the identity prefixes that policy
// lists accept, in the order the messages name them: the built-in front
// doors', roles, and cli. A front door not in it is accepted when the
// process builds it (LoadOptions.Platforms).
var identityPlatforms = []identityPlatform{
	{Name: "slack", Example: "slack:U123"},
	{Name: "discord", Example: "discord:123"},
	{Name: "discord-role", Check: func(id string) string {
		if strings.Trim(id, "0123456789") != "" {
			return "want discord-role:<numeric role id>"
		}
		return ""
	}},
	{Name: "webhook", Example: "webhook:zapier"},
	{Name: "cli", Example: "cli:alice"},
}

// identityPlatforms is the table with the front doors' platforms it
// lacks added (LoadOptions.Platforms).
func (v *validator) identityPlatforms() []identityPlatform {
	out := identityPlatforms
	for _, name := range v.platforms {
		if !slices.ContainsFunc(out, func(p identityPlatform) bool { return p.Name == name }) {
			out = append(slices.Clip(out), identityPlatform{Name: name})
		}
	}
	return out
}

// identityWords are the examples and names of platforms, as the messages
// say them.
func identityWords(platforms []identityPlatform) (examples, names string) {
	var ex, ns []string
	for _, p := range platforms {
		ns = append(ns, p.Name)
		if p.Example != "" {
			ex = append(ex, p.Example)
		}
	}
	if n := len(ex); n > 1 {
		ex = append(ex[:n-2], ex[n-2]+" or "+ex[n-1])
	}
	return strings.Join(ex, ", "), strings.Join(ns, ", ")
}

// identities checks policy list entries: platform:id with a known platform.
func (v *validator) identities(key string, ids []string) {
	platforms := v.identityPlatforms()
	examples, names := identityWords(platforms)
	for _, id := range ids {
		platform, rest, ok := strings.Cut(id, ":")
		i := slices.IndexFunc(platforms, func(p identityPlatform) bool { return p.Name == platform })
		switch {
		case !ok || rest == "":
			v.fail(key, "invalid identity %q: want platform:id such as %s", id, examples)
		case i < 0:
			v.fail(key, "invalid identity %q: platform must be one of %s", id, names)
		case platforms[i].Check != nil && platforms[i].Check(rest) != "":
			v.fail(key, "invalid identity %q: %s", id, platforms[i].Check(rest))
		case strings.TrimSpace(rest) != rest || strings.ContainsAny(rest, " \t\r\n"):
			v.fail(key, "invalid identity %q: the id must not contain spaces", id)
		}
	}
}
