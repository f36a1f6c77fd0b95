package config

import (
	"bytes"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// DefaultPath is the configuration file read when --config is not given. It may be
// absent, so that `clorebot serve --sandbox` runs on a fresh machine.
const DefaultPath = "clorebot.toml"

// sandboxStateFile is the sandbox's database file name inside the data directory.
const sandboxStateFile = "clorebot-sandbox.db"

// Config is clorebot's whole configuration, one field per TOML section.
type Config struct {
	Clore   Clore   `toml:"clore"`
	Storage Storage `toml:"storage"`
	HTTP    HTTP    `toml:"http"`
	Slack   Slack   `toml:"slack"`
	Discord Discord `toml:"discord"`
	Policy  Policy  `toml:"policy"`
	Webhook Webhook `toml:"webhook"`
	Watch   Watch   `toml:"watch"`
	Notify  Notify  `toml:"notify"`
	Report  Report  `toml:"report"`
	Sandbox Sandbox `toml:"sandbox"`
	Log     Log     `toml:"log"`
}

// Clore configures the Clore.ai REST client.
type Clore struct {
	APIURL         string   `toml:"api_url"`
	APIKey         Secret   `toml:"api_key"`
	Sandbox        bool     `toml:"sandbox"`
	UserAgent      string   `toml:"user_agent"`
	Timeout        Duration `toml:"timeout"`         // per request
	MaxRetries     int      `toml:"max_retries"`     // safe (idempotent) calls only
	MinInterval    Duration `toml:"min_interval"`    // between any two requests per key
	CreateInterval Duration `toml:"create_interval"` // between two create_order calls per key
	// ProvisionTimeout cancels an order that is not online by then. Against
	// real Clore it must stay under the 10-minute grace in which a cancelled
	// order pays no creation fee.
	ProvisionTimeout Duration `toml:"provision_timeout"`
	// RenterFeeOnDemand and RenterFeeSpot are the renter fee rates (fractions
	// of the price) offers are priced with while GET /renter_fees does not
	// answer, and for currencies it does not state.
	RenterFeeOnDemand float64 `toml:"renter_fee_on_demand"`
	RenterFeeSpot     float64 `toml:"renter_fee_spot"`
	// AutoSSHEntrypoint sends autossh_entrypoint: true with create_order:
	// Clore's own entrypoint then sets up SSH and runs the order's command
	// instead of the image's ENTRYPOINT/CMD. Off by default: clorebot's
	// default images run their own sshd, and the flag would replace an
	// image's own start (README "SSH and autossh_entrypoint").
	AutoSSHEntrypoint bool `toml:"autossh_entrypoint"`
}

// Storage configures the database: the SQLite file at Path, or the
// PostgreSQL database at URL when it is set (DESIGN §8).
type Storage struct {
	Path string `toml:"path"` // its directory is the data directory
	// URL ("postgres://…") runs on PostgreSQL instead of the SQLite file.
	// A secret: it may carry the database password.
	URL Secret `toml:"url"`
	// Given is storage.path as written, when Load resolved it against the
	// configuration file's directory (relative); "" otherwise.
	Given string `toml:"-"`
}

// HTTP configures the HTTP listener (webhooks, Slack/Discord HTTP mode, health, metrics).
type HTTP struct {
	Listen            string   `toml:"listen"`
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	ReadTimeout       Duration `toml:"read_timeout"`
	WriteTimeout      Duration `toml:"write_timeout"`
	IdleTimeout       Duration `toml:"idle_timeout"`
	ShutdownTimeout   Duration `toml:"shutdown_timeout"`
	// TrustedProxies are CIDRs whose X-Forwarded-For names the client address
	// (per-address limits and logs); empty: the TCP peer is the client.
	TrustedProxies []string `toml:"trusted_proxies"`
	// MetricsListen, when set, serves /metrics on this address instead of
	// Listen (a port only the monitoring network reaches); empty: Listen.
	MetricsListen string `toml:"metrics_listen"`
}

// Slack configures the Slack front door; it is off while every credential is empty.
type Slack struct {
	AppToken      Secret `toml:"app_token"`
	BotToken      Secret `toml:"bot_token"`
	SigningSecret Secret `toml:"signing_secret"`
	APIURL        string `toml:"api_url"`
	// TeamID is the workspace whose requests are served; others are
	// refused. Empty: the bot token's team, learned with auth.test at start.
	TeamID string `toml:"team_id"`
}

// Discord configures the Discord front door; it is off while bot_token is empty.
type Discord struct {
	BotToken      Secret   `toml:"bot_token"`
	ApplicationID string   `toml:"application_id"`
	PublicKey     string   `toml:"public_key"`
	GuildIDs      []string `toml:"guild_ids"`
	APIURL        string   `toml:"api_url"`
	// AllowDMs serves interactions from direct messages; refused otherwise.
	// Interactions from guilds not in GuildIDs (when it is set) are refused
	// whatever it says.
	AllowDMs bool `toml:"allow_dms"`
}

// Policy holds roles and guardrails. Prices are USD; per-hour prices are per GPU
// unless the field says otherwise.
type Policy struct {
	Admins              []string `toml:"admins"`
	Renters             []string `toml:"renters"`
	Viewers             []string `toml:"viewers"`
	DefaultRole         string   `toml:"default_role"`
	MaxPricePerHour     float64  `toml:"max_price_per_hour"`
	MaxOrdersPerHour    int      `toml:"max_orders_per_hour"`
	MaxActiveOrders     int      `toml:"max_active_orders"`
	MaxTeamActiveOrders int      `toml:"max_team_active_orders"`
	MaxHourlySpend      float64  `toml:"max_hourly_spend"` // whole team, USD per hour
	ConfirmAbove        float64  `toml:"confirm_above"`    // whole order, USD per hour; 0 = never ask
	DefaultHours        float64  `toml:"default_hours"`
	MaxHours            float64  `toml:"max_hours"`
	MinReliability      float64  `toml:"min_reliability"`
	ReminderBefore      Duration `toml:"reminder_before"` // order.expiring this long before an order's end
	ConfirmTTL          Duration `toml:"confirm_ttl"`     // a rent awaiting confirmation expires after this
	MaxWatchesPerUser   int      `toml:"max_watches_per_user"`
	// MonthlyBudgetUSD caps one identity's spend in a calendar month (UTC),
	// TeamMonthlyBudgetUSD the team's: spent + committed + a new rent must
	// fit; 0 = none.
	MonthlyBudgetUSD     float64 `toml:"monthly_budget_usd"`
	TeamMonthlyBudgetUSD float64 `toml:"team_monthly_budget_usd"`
	// BudgetAction is what happens at 100 % of a budget: "notify" or
	// "cancel" (also cancel the owner's orders).
	BudgetAction string `toml:"budget_action"`
}

// Report configures the weekly spend digest: a cron expression (UTC, five
// fields, run by gocron) and where it is posted. Empty schedule = off.
type Report struct {
	Schedule         string `toml:"schedule"`
	SlackChannel     string `toml:"slack_channel"`
	DiscordChannelID string `toml:"discord_channel_id"`
}

// Webhook configures inbound signed webhooks and outbound lifecycle deliveries.
type Webhook struct {
	RatePerMinute     int  `toml:"rate_per_minute"`
	IPRatePerMinute   int  `toml:"ip_rate_per_minute"`
	LegacySignatures  bool `toml:"legacy_signatures"`
	PublicMarketplace bool `toml:"public_marketplace"`
	// CallbackAllowPrivate lets a request's callback_url reach loopback,
	// private, link-local and unspecified addresses.
	CallbackAllowPrivate bool                `toml:"callback_allow_private"`
	DedupWindow          Duration            `toml:"dedup_window"`
	Tolerance            Duration            `toml:"tolerance"`
	Keys                 []WebhookKey        `toml:"keys"`
	Subscribers          []WebhookSubscriber `toml:"subscribers"`
}

// WebhookKey is one inbound webhook identity, webhook:<Name> in policy lists.
type WebhookKey struct {
	Name       string   `toml:"name"`
	Secret     Secret   `toml:"secret"`
	SecretFile string   `toml:"secret_file"`
	Roles      []string `toml:"roles"`
}

// WebhookSubscriber is one outbound receiver of lifecycle events.
type WebhookSubscriber struct {
	Name       string   `toml:"name"` // optional, for deliveries test --subscriber NAME
	URL        string   `toml:"url"`
	Secret     Secret   `toml:"secret"`
	SecretFile string   `toml:"secret_file"`
	Events     []string `toml:"events"` // empty = all
}

// Watch configures price watches and the order lifecycle tick.
type Watch struct {
	Interval Duration `toml:"interval"`
	// RearmMargin and Cooldown re-arm a triggered alert watch: once the price
	// rose above target × (1 + RearmMargin), or after Cooldown.
	RearmMargin float64  `toml:"rearm_margin"`
	Cooldown    Duration `toml:"cooldown"`
	// LowBalanceUSD is the wallet balance (USD value) under which
	// wallet.low_balance is emitted, once a day; 0 = never.
	LowBalanceUSD float64 `toml:"low_balance_usd"`
}

// Notify configures notification-only sinks: Slack and Discord incoming-webhook
// URLs, each with an event filter (empty = every event). The URLs hold tokens
// and are treated as secrets.
type Notify struct {
	SlackWebhookURL   Secret   `toml:"slack_webhook_url"`
	SlackEvents       []string `toml:"slack_events"`
	DiscordWebhookURL Secret   `toml:"discord_webhook_url"`
	DiscordEvents     []string `toml:"discord_events"`
}

// Sandbox configures the built-in simulated marketplace used when clore.sandbox is true.
type Sandbox struct {
	Seed           int      `toml:"seed"`
	Servers        int      `toml:"servers"`
	DriftPerHour   float64  `toml:"drift_per_hour"`
	ProvisionDelay Duration `toml:"provision_delay"`
	StatePath      string   `toml:"state_path"`
	RateLimit      bool     `toml:"rate_limit"`
	APIKey         string   `toml:"api_key"`
}

// Log configures the slog handler.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// Defaults returns the configuration used for every key that is not set.
// config.example.toml documents the same values.
func Defaults() Config {
	return Config{
		Clore: Clore{
			APIURL:         "https://api.clore.ai/v1",
			UserAgent:      "clorebot/1 (+https://github.com/clorebot/clorebot)",
			Timeout:        seconds(30),
			MaxRetries:     3,
			MinInterval:    Duration{1100 * time.Millisecond},
			CreateInterval: Duration{5500 * time.Millisecond},
			// Under Clore's 10-minute creation-fee grace, with a minute for
			// the cancel to get through the limiter.
			ProvisionTimeout:  Duration{9 * time.Minute},
			RenterFeeOnDemand: 0.10,
			RenterFeeSpot:     0.025,
		},
		Storage: Storage{Path: "clorebot.db"},
		HTTP: HTTP{
			Listen:            ":8080",
			ReadHeaderTimeout: seconds(5),
			ReadTimeout:       seconds(15),
			WriteTimeout:      seconds(30),
			IdleTimeout:       seconds(60),
			ShutdownTimeout:   seconds(20),
			TrustedProxies:    []string{},
		},
		Slack:   Slack{APIURL: "https://slack.com/api/"},
		Discord: Discord{GuildIDs: []string{}, APIURL: "https://discord.com/"},
		Policy: Policy{
			Admins:              []string{},
			Renters:             []string{},
			Viewers:             []string{},
			DefaultRole:         "viewer",
			MaxPricePerHour:     5.0,
			MaxOrdersPerHour:    10,
			MaxActiveOrders:     3,
			MaxTeamActiveOrders: 10,
			MaxHourlySpend:      50.0,
			ConfirmAbove:        2.0,
			DefaultHours:        4,
			MaxHours:            168,
			MinReliability:      0.9,
			ReminderBefore:      Duration{15 * time.Minute},
			ConfirmTTL:          Duration{15 * time.Minute},
			MaxWatchesPerUser:   100,
			BudgetAction:        "notify",
		},
		Webhook: Webhook{
			RatePerMinute:    60,
			IPRatePerMinute:  120,
			LegacySignatures: false,
			DedupWindow:      Duration{24 * time.Hour},
			Tolerance:        Duration{5 * time.Minute},
		},
		Watch:  Watch{Interval: seconds(60), RearmMargin: 0.05, Cooldown: Duration{time.Hour}, LowBalanceUSD: 10},
		Notify: Notify{SlackEvents: []string{}, DiscordEvents: []string{}},
		Sandbox: Sandbox{
			Seed:           1,
			Servers:        2000,
			DriftPerHour:   0.02,
			ProvisionDelay: seconds(20),
			RateLimit:      true,
			APIKey:         "sandbox",
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

func seconds(n int) Duration { return Duration{time.Duration(n) * time.Second} }

// DataDir is the directory that holds the database and the sandbox's state.
func (c *Config) DataDir() string {
	return filepath.Dir(c.Storage.Path)
}

// SandboxStatePath is the sandbox's database file: sandbox.state_path, or
// clorebot-sandbox.db in the data directory when that is empty.
func (c *Config) SandboxStatePath() string {
	if c.Sandbox.StatePath != "" {
		return c.Sandbox.StatePath
	}
	return filepath.Join(c.DataDir(), sandboxStateFile)
}

// Redacted renders the effective configuration as TOML with every secret shown as
// "[redacted]" (or "" when unset). It is what `clorebot config check` prints.
func (c *Config) Redacted() string {
	shown := *c
	// A URL may carry a token in its user info or query: show neither.
	shown.Clore.APIURL = RedactURL(c.Clore.APIURL)
	shown.Slack.APIURL = RedactURL(c.Slack.APIURL)
	shown.Discord.APIURL = RedactURL(c.Discord.APIURL)
	shown.Webhook.Subscribers = slices.Clone(c.Webhook.Subscribers)
	for i := range shown.Webhook.Subscribers {
		shown.Webhook.Subscribers[i].URL = RedactURL(c.Webhook.Subscribers[i].URL)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(&shown); err != nil {
		// Every field type marshals; an error here is a programming mistake.
		return fmt.Sprintf("# config: render: %v\n", err)
	}
	return buf.String()
}

// RedactURL shows a URL without its secrets: user info and query values
// become "[redacted]"; the fragment is dropped. A string that does not parse
// as an absolute URL is shown as "[redacted]" whole.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return redacted
	}
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		b.WriteString(redacted + "@")
	}
	b.WriteString(u.Host + u.EscapedPath())
	if u.RawQuery != "" {
		keys := slices.Sorted(maps.Keys(u.Query()))
		for i, k := range keys {
			b.WriteString([]string{"?", "&"}[min(i, 1)] + url.QueryEscape(k) + "=" + redacted)
		}
	}
	return b.String()
}
