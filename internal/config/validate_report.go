package config

import "github.com/robfig/cron/v3"

// ParseSchedule reads report.schedule as gocron reads a cron job's
// expression (robfig/cron's standard five fields, or a descriptor such as
// "@weekly"); times are UTC.
func ParseSchedule(expr string) (cron.Schedule, error) {
	return cron.ParseStandard(expr)
}

// validateReport checks the spend digest's keys: a schedule that parses,
// and somewhere to post it.
func (c *Config) validateReport(v *validator) {
	r := c.Report
	if r.Schedule == "" {
		return
	}
	if _, err := ParseSchedule(r.Schedule); err != nil {
		v.fail("report.schedule", "want a cron expression such as \"0 9 * * 1\" (Mondays 09:00 UTC): %s", err)
	}
	if r.SlackChannel == "" && r.DiscordChannelID == "" {
		v.fail("report.schedule", "is set but neither report.slack_channel nor report.discord_channel_id says where to post the digest")
	}
	if r.DiscordChannelID != "" && !isSnowflake(r.DiscordChannelID) {
		v.fail("report.discord_channel_id", "want a numeric Discord channel id, got %q", r.DiscordChannelID)
	}
}
