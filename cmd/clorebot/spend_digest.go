package main

import (
	"context"
	"time"

	"github.com/clorebot/clorebot/bot/discordbot"
	"github.com/clorebot/clorebot/bot/slackbot"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/scheduler"
)

// digestTasks fills in the spend digest on report.schedule, and its
// retry, when a schedule is configured.
func (a *App) digestTasks(t *scheduler.Table) {
	if a.cfg.Report.Schedule == "" {
		return
	}
	t.DigestSchedule = a.cfg.Report.Schedule
	t.Digest = func(ctx context.Context, slot time.Time) error { return a.svc.PostDigest(ctx, slot, a.digestTargets) }
	t.DigestRetry = func(ctx context.Context) error { return a.svc.RetryDigests(ctx, a.digestTargets) }
}

// digestTargets are the channels the digest of slot goes to: the Slack
// and Discord channels configured, on the front doors that run.
func (a *App) digestTargets(slot time.Time) []commands.Target {
	var out []commands.Target
	if ch := a.cfg.Report.SlackChannel; ch != "" && a.slack != nil {
		out = append(out, commands.Target{Platform: commands.PlatformSlack, ReplyTarget: slackbot.ChannelTarget(ch)})
	}
	if ch := a.cfg.Report.DiscordChannelID; ch != "" && a.discord != nil {
		out = append(out, commands.Target{Platform: commands.PlatformDiscord, ReplyTarget: discordbot.ChannelTarget(ch, slot)})
	}
	return out
}
