package main

import (
	"context"
	"errors"
	"time"

	"github.com/clorebot/clorebot/bot/discordbot"
	"github.com/clorebot/clorebot/bot/slackbot"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/scheduler"
)

// Scheduled tasks of the spend digest (report.schedule).
const (
	taskDigest      = "spend-digest"
	taskDigestRetry = "spend-digest-retry"
	// digestRetryTick is how often a digest recorded but not posted (a
	// crash in between, a chat outage) is looked for.
	digestRetryTick = time.Minute
)

// digestTasks registers the spend digest on report.schedule, and its
// retry, when a schedule is configured.
func (a *App) digestTasks(s *scheduler.Scheduler) error {
	if a.cfg.Report.Schedule == "" {
		return nil
	}
	post := func(ctx context.Context, slot time.Time) error { return a.svc.PostDigest(ctx, slot, a.digestTargets) }
	retry := func(ctx context.Context) error { return a.svc.RetryDigests(ctx, a.digestTargets) }
	return errors.Join(s.Cron(taskDigest, a.cfg.Report.Schedule, post), s.Every(taskDigestRetry, digestRetryTick, retry))
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
