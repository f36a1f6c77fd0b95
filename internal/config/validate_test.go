package config

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*Config)
		key       string // "" = valid
		fragments []string
	}{
		{"sandbox defaults", func(*Config) {}, "", nil},
		{"bad api url", func(c *Config) { c.Clore.APIURL = "ftp://x" }, "clore.api_url", []string{"http:// or https://"}},
		{"empty user agent", func(c *Config) { c.Clore.UserAgent = " " }, "clore.user_agent", []string{"must not be empty"}},
		{"zero timeout", func(c *Config) { c.Clore.Timeout = Duration{} }, "clore.timeout", []string{"positive"}},
		{"negative retries", func(c *Config) { c.Clore.MaxRetries = -1 }, "clore.max_retries", []string{"negative"}},
		{"min interval below Clore's limit", func(c *Config) {
			c.Clore.Sandbox, c.Clore.APIKey, c.Clore.MinInterval = false, "k", Duration{500 * time.Millisecond}
		}, "clore.min_interval", []string{"at least 1s", "got 500ms"}},
		{"create interval below Clore's limit", func(c *Config) {
			c.Clore.Sandbox, c.Clore.APIKey, c.Clore.CreateInterval = false, "k", Duration{time.Second}
		}, "clore.create_interval", []string{"at least 5s"}},
		{"sandbox may go fast", func(c *Config) {
			c.Clore.MinInterval, c.Clore.CreateInterval, c.Watch.Interval = Duration{}, Duration{}, Duration{time.Second}
		}, "", nil},
		{"sandbox interval not negative", func(c *Config) { c.Clore.MinInterval = Duration{-time.Second} }, "clore.min_interval", []string{"at least 0s"}},
		{"watch below 10s", func(c *Config) {
			c.Clore.Sandbox, c.Clore.APIKey, c.Watch.Interval = false, "k", Duration{5 * time.Second}
		}, "watch.interval", []string{"at least 10s"}},
		{"sandbox watch below 1s", func(c *Config) { c.Watch.Interval = Duration{500 * time.Millisecond} }, "watch.interval", []string{"at least 1s"}},
		{"empty storage", func(c *Config) { c.Storage.Path = "" }, "storage.path", []string{"empty"}},
		{"bad listen", func(c *Config) { c.HTTP.Listen = "8080" }, "http.listen", []string{"host:port"}},
		{"listen port range", func(c *Config) { c.HTTP.Listen = ":70000" }, "http.listen", []string{"host:port"}},
		{"bad metrics listen", func(c *Config) { c.HTTP.MetricsListen = "9090" }, "http.metrics_listen", []string{"host:port"}},
		{"metrics on the same address", func(c *Config) { c.HTTP.MetricsListen = c.HTTP.Listen }, "http.metrics_listen", []string{"leave it empty"}},
		{"zero write timeout", func(c *Config) { c.HTTP.WriteTimeout = Duration{} }, "http.write_timeout", []string{"positive"}},
		{"slack app token alone", func(c *Config) { c.Slack.AppToken = "xapp-1" }, "slack.bot_token", []string{"slack.app_token"}},
		{"slack both tokens", func(c *Config) { c.Slack.AppToken, c.Slack.BotToken = "xapp-1", "xoxb-1" }, "", nil},
		{"slack url", func(c *Config) { c.Slack.APIURL = "localhost:1234" }, "slack.api_url", []string{"URL"}},
		{"slack team", func(c *Config) { c.Slack.TeamID = "T0123ABCD" }, "", nil},
		{"slack team not a team", func(c *Config) { c.Slack.TeamID = "U123" }, "slack.team_id", []string{`"U123"`}},
		{"discord url", func(c *Config) { c.Discord.APIURL = "" }, "discord.api_url", []string{"empty"}},
		{"discord app id", func(c *Config) { c.Discord.ApplicationID = "abc" }, "discord.application_id", []string{`"abc"`}},
		{"discord public key", func(c *Config) { c.Discord.PublicKey = "xyz" }, "discord.public_key", []string{"64 hexadecimal"}},
		{"discord guild", func(c *Config) { c.Discord.GuildIDs = []string{"123", "x"} }, "discord.guild_ids", []string{`"x"`}},
		{"discord ok", func(c *Config) {
			c.Discord.ApplicationID, c.Discord.PublicKey = "1234567890", strings.Repeat("aB", 32)
			c.Discord.GuildIDs = []string{"42"}
		}, "", nil},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level", []string{"debug, info, warn, error", `"verbose"`}},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format", []string{"text, json"}},
		{"sandbox servers", func(c *Config) { c.Sandbox.Servers = 0 }, "sandbox.servers", []string{"between 1"}},
		{"sandbox drift", func(c *Config) { c.Sandbox.DriftPerHour = -0.1 }, "sandbox.drift_per_hour", []string{"negative"}},
		{"sandbox delay", func(c *Config) { c.Sandbox.ProvisionDelay = Duration{-1} }, "sandbox.provision_delay", []string{"at least 0s"}},
		{"sandbox api key", func(c *Config) { c.Sandbox.APIKey = "" }, "sandbox.api_key", []string{"empty"}},
		{"provision timeout at Clore's fee grace", func(c *Config) {
			c.Clore.Sandbox, c.Clore.APIKey, c.Clore.ProvisionTimeout = false, "k", Duration{10 * time.Minute}
		}, "clore.provision_timeout", []string{"under 10m", "creation fee", "got 10m"}},
		{"provision timeout under the grace", func(c *Config) {
			c.Clore.Sandbox, c.Clore.APIKey, c.Clore.ProvisionTimeout = false, "k", Duration{9*time.Minute + 59*time.Second}
		}, "", nil},
		{"sandbox provision timeout may be long", func(c *Config) { c.Clore.ProvisionTimeout = Duration{30 * time.Minute} }, "", nil},
		{"zero provision timeout", func(c *Config) { c.Clore.ProvisionTimeout = Duration{} }, "clore.provision_timeout", []string{"positive"}},
		{"on-demand fee of 1", func(c *Config) { c.Clore.RenterFeeOnDemand = 1 }, "clore.renter_fee_on_demand", []string{"below 1"}},
		{"on-demand fee over 1", func(c *Config) { c.Clore.RenterFeeOnDemand = 10 }, "clore.renter_fee_on_demand", []string{"between 0 and 1"}},
		{"negative spot fee", func(c *Config) { c.Clore.RenterFeeSpot = -0.01 }, "clore.renter_fee_spot", []string{"negative"}},
		{"NaN spot fee", func(c *Config) { c.Clore.RenterFeeSpot = math.NaN() }, "clore.renter_fee_spot", []string{"finite"}},
		{"fees of zero and half", func(c *Config) { c.Clore.RenterFeeOnDemand, c.Clore.RenterFeeSpot = 0, 0.5 }, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sandboxed()
			tt.edit(&c)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			wantKeyError(t, err, tt.key, tt.fragments...)
		})
	}
}

func TestValidatePolicy(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*Policy)
		key       string
		fragments []string
	}{
		{"identities ok", func(p *Policy) {
			p.Admins = []string{"slack:U123", "cli:alice"}
			p.Renters = []string{"discord:123", "webhook:zapier", "discord-role:456"}
			p.Viewers = []string{"slack:U9"}
		}, "", nil},
		{"discord role not numeric", func(p *Policy) { p.Renters = []string{"discord-role:ops"} }, "policy.renters", []string{`"discord-role:ops"`, "numeric role id"}},
		{"no platform", func(p *Policy) { p.Admins = []string{"U123"} }, "policy.admins", []string{`"U123"`, "platform:id"}},
		{"unknown platform", func(p *Policy) { p.Renters = []string{"teams:1"} }, "policy.renters", []string{"slack, discord, discord-role, webhook, cli"}},
		{"empty id", func(p *Policy) { p.Viewers = []string{"slack:"} }, "policy.viewers", []string{`"slack:"`}},
		{"space in id", func(p *Policy) { p.Admins = []string{"cli:al ice"} }, "policy.admins", []string{"spaces"}},
		{"default role", func(p *Policy) { p.DefaultRole = "guest" }, "policy.default_role", []string{"admin, renter, viewer, none"}},
		{"default role none", func(p *Policy) { p.DefaultRole = "none" }, "", nil},
		{"negative price", func(p *Policy) { p.MaxPricePerHour = -1 }, "policy.max_price_per_hour", []string{"negative"}},
		{"NaN price", func(p *Policy) { p.MaxPricePerHour = math.NaN() }, "policy.max_price_per_hour", []string{"finite"}},
		{"Inf spend", func(p *Policy) { p.MaxHourlySpend = math.Inf(1) }, "policy.max_hourly_spend", []string{"finite"}},
		{"negative confirm", func(p *Policy) { p.ConfirmAbove = -0.5 }, "policy.confirm_above", []string{"negative"}},
		{"confirm never", func(p *Policy) { p.ConfirmAbove = 0 }, "", nil},
		{"negative orders", func(p *Policy) { p.MaxOrdersPerHour = -1 }, "policy.max_orders_per_hour", []string{"negative"}},
		{"negative active", func(p *Policy) { p.MaxActiveOrders = -1 }, "policy.max_active_orders", []string{"negative"}},
		{"negative team", func(p *Policy) { p.MaxTeamActiveOrders = -3 }, "policy.max_team_active_orders", []string{"negative"}},
		{"zero default hours", func(p *Policy) { p.DefaultHours = 0 }, "policy.default_hours", []string{"positive"}},
		{"zero max hours", func(p *Policy) { p.MaxHours = 0 }, "policy.max_hours", []string{"positive"}},
		{"default over max", func(p *Policy) { p.DefaultHours, p.MaxHours = 10, 8 }, "policy.default_hours", []string{"policy.max_hours"}},
		{"reliability over 1", func(p *Policy) { p.MinReliability = 1.5 }, "policy.min_reliability", []string{"between 0 and 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sandboxed()
			tt.edit(&c.Policy)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			wantKeyError(t, err, tt.key, tt.fragments...)
		})
	}
}

func TestValidateWebhook(t *testing.T) {
	key := func(name string) WebhookKey { return WebhookKey{Name: name, Secret: Secret("change-me-" + name)} }
	sub := func(url string, events ...string) WebhookSubscriber {
		return WebhookSubscriber{URL: url, Secret: "change-me", Events: events}
	}
	tests := []struct {
		name      string
		edit      func(*Webhook)
		key       string
		fragments []string
	}{
		{"ok", func(w *Webhook) {
			w.Keys = []WebhookKey{key("zapier"), key("ci_cron-2")}
			w.Keys[0].Roles = []string{"renter", "viewer"}
			w.Subscribers = []WebhookSubscriber{sub("https://a.example/x"), sub("http://b.example", "order.running", "job.completed")}
		}, "", nil},
		{"negative rate", func(w *Webhook) { w.RatePerMinute = -1 }, "webhook.rate_per_minute", []string{"negative"}},
		{"negative ip rate", func(w *Webhook) { w.IPRatePerMinute = -1 }, "webhook.ip_rate_per_minute", []string{"negative"}},
		{"zero tolerance", func(w *Webhook) { w.Tolerance = Duration{} }, "webhook.tolerance", []string{"positive"}},
		{"zero dedup", func(w *Webhook) { w.DedupWindow = Duration{} }, "webhook.dedup_window", []string{"positive"}},
		{"missing name", func(w *Webhook) { w.Keys = []WebhookKey{key("")} }, "webhook.keys[0].name", []string{"required"}},
		{"bad name", func(w *Webhook) { w.Keys = []WebhookKey{key("Zapier!")} }, "webhook.keys[0].name", []string{"lower-case letters", `"Zapier!"`}},
		{"duplicate name", func(w *Webhook) { w.Keys = []WebhookKey{key("a"), key("b"), key("a")} }, "webhook.keys[2].name", []string{"duplicate", "webhook.keys[0]"}},
		{"missing secret", func(w *Webhook) { w.Keys = []WebhookKey{{Name: "a"}} }, "webhook.keys[0].secret", []string{"secret_file"}},
		{"bad role", func(w *Webhook) {
			w.Keys = []WebhookKey{key("a")}
			w.Keys[0].Roles = []string{"owner"}
		}, "webhook.keys[0].roles", []string{`"owner"`}},
		{"subscriber scheme", func(w *Webhook) { w.Subscribers = []WebhookSubscriber{sub("ftp://x.example")} }, "webhook.subscribers[0].url", []string{"http:// or https://"}},
		{"subscriber no url", func(w *Webhook) { w.Subscribers = []WebhookSubscriber{sub("")} }, "webhook.subscribers[0].url", []string{"empty"}},
		{"subscriber no host", func(w *Webhook) { w.Subscribers = []WebhookSubscriber{sub("https://")} }, "webhook.subscribers[0].url", []string{"URL"}},
		{"subscriber secret", func(w *Webhook) { w.Subscribers = []WebhookSubscriber{{URL: "https://x.example"}} }, "webhook.subscribers[0].secret", []string{"required"}},
		{"whsec_ secret not base64", func(w *Webhook) { w.Keys = []WebhookKey{{Name: "a", Secret: "whsec_%%%not-base64"}} },
			"webhook.keys[0].secret", []string{"the part after whsec_ is not base64"}},
		{"whsec_ secret empty", func(w *Webhook) { w.Keys = []WebhookKey{{Name: "a", Secret: "whsec_"}} },
			"webhook.keys[0].secret", []string{"nothing after whsec_"}},
		{"subscriber whsec_ not base64", func(w *Webhook) {
			w.Subscribers = []WebhookSubscriber{{URL: "https://x.example", Secret: "whsec_***"}}
		}, "webhook.subscribers[0].secret", []string{"not base64"}},
		{"two keys, one secret", func(w *Webhook) {
			w.Keys = []WebhookKey{{Name: "a", Secret: "same-secret"}, key("b"), {Name: "c", Secret: "same-secret"}}
		}, "webhook.keys[2].secret", []string{"the same secret as webhook.keys[0]"}},
		{"two keys, one HMAC key written two ways", func(w *Webhook) {
			w.Keys = []WebhookKey{{Name: "a", Secret: "whsec_YWJjZGVm"}, {Name: "b", Secret: "abcdef"}}
		}, "webhook.keys[1].secret", []string{"the same secret as webhook.keys[0]"}},
		{"subscriber listed twice", func(w *Webhook) {
			w.Subscribers = []WebhookSubscriber{sub("https://x.example/a"), sub("https://x.example/a")}
		}, "webhook.subscribers[1].url", []string{"the same URL as webhook.subscribers[0]"}},
		{"subscriber event", func(w *Webhook) {
			w.Subscribers = []WebhookSubscriber{sub("https://x.example", "order.running", "order.exploded")}
		}, "webhook.subscribers[0].events", []string{`"order.exploded"`, "watch.triggered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sandboxed()
			tt.edit(&c.Webhook)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			wantKeyError(t, err, tt.key, tt.fragments...)
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	c := Defaults()
	c.Log.Level = "loud"
	c.HTTP.Listen = "nope"
	if got := len(keyErrors(c.Validate())); got != 3 {
		t.Fatalf("got %d problems, want 3 (api_key, log.level, http.listen): %v", got, c.Validate())
	}
}
