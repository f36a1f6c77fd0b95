package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/clorebot/clorebot/internal/chart"
)

// digestClaim is how long a process holds a digest slot it is posting:
// past it, a slot recorded but not posted (a crash in between) is posted
// again by whichever process retries first.
const digestClaim = 5 * time.Minute

// digestRetryFor is how long after its slot a digest that could not be
// posted is still tried: a week-old digest helps nobody, and a channel
// that refuses posts for good would be tried every minute forever.
const digestRetryFor = 24 * time.Hour

// digestTop is how many spenders and GPU models the digest lists.
const digestTop = 5

// DigestTargets names where the digest of a slot goes: a Target per
// configured channel (report.slack_channel, report.discord_channel_id), in
// the terms of its front door.
type DigestTargets func(slot time.Time) []Target

// PostDigest posts the spend digest of the schedule slot `slot` (the time
// report.schedule named) to targets, once per slot across restarts and
// processes: the slot is recorded (claimed) in the store before anything
// is posted and marked posted after; a slot another live process claimed,
// or one posted already, posts nothing. When a post fails the slot stays
// unposted and RetryDigests posts it once the claim lapses.
func (s *Service) PostDigest(ctx context.Context, slot time.Time, to DigestTargets) error {
	ss := s.spendStore()
	slot = slot.UTC()
	targets := to(slot)
	if ss == nil || len(targets) == 0 {
		return nil
	}
	now := s.clock.Now()
	ok, err := ss.ClaimDigestSlot(ctx, slot, s.o.WorkerID, now, now.Add(digestClaim))
	if err != nil || !ok {
		return err
	}
	r, err := s.Digest(ctx, slot)
	if err != nil {
		return err
	}
	r.JobID = "digest-" + slot.Format("20060102T1504") // one message per slot in the doors' followers
	var errs []error
	for _, t := range targets {
		if _, err := s.notify.Notify(ctx, t, r); err != nil {
			errs = append(errs, fmt.Errorf("commands: digest to %s: %w", t.Platform, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // retried by RetryDigests once the claim lapsed
	}
	if err := ss.MarkDigestPosted(ctx, slot, s.clock.Now()); err != nil {
		return fmt.Errorf("commands: digest: %w", err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "spend digest posted", slog.Time("slot", slot), slog.Int("targets", len(targets)))
	return nil
}

// RetryDigests posts the digests of slots recorded but never posted (a
// process died between recording and posting, or a post failed), once
// their claim lapsed, for a day after their slot.
func (s *Service) RetryDigests(ctx context.Context, to DigestTargets) error {
	ss := s.spendStore()
	if ss == nil {
		return nil
	}
	slots, err := ss.UnpostedDigestSlots(ctx, s.clock.Now())
	if err != nil {
		return fmt.Errorf("commands: digest retry: %w", err)
	}
	var errs []error
	for _, slot := range slots {
		if s.clock.Now().Sub(slot) > digestRetryFor {
			continue
		}
		errs = append(errs, s.PostDigest(ctx, slot, to))
	}
	return errors.Join(errs...)
}

// Digest is the weekly spend digest of slot: the 7 UTC days before slot's
// day, everyone's (an admin's view), with the week before for comparison:
// totals, top spenders, per GPU model, and a chart of the spenders.
func (s *Service) Digest(ctx context.Context, slot time.Time) (Reply, error) {
	ss := s.spendStore()
	if ss == nil {
		return Reply{}, errNoLedger
	}
	until := dayStart(slot)
	since := until.AddDate(0, 0, -7)
	week, err := ss.SpendDays(ctx, since, until, "")
	if err != nil {
		return Reply{}, fmt.Errorf("commands: digest: %w", err)
	}
	before, err := ss.SpendDays(ctx, since.AddDate(0, 0, -7), since, "")
	if err != nil {
		return Reply{}, fmt.Errorf("commands: digest: %w", err)
	}
	users := SpendReport{Since: since, Until: until, By: SpendByUser, All: true}
	users.addDays(week)
	gpus := SpendReport{Since: since, Until: until, By: SpendByGPU, All: true}
	gpus.addDays(week)
	last := 0.0
	for _, d := range before {
		last += d.USD
	}
	r := Reply{Status: StatusOK, Visibility: Public, Done: true,
		Title: fmt.Sprintf("Weekly spend: %s to %s (UTC)", since.Format("Jan 2"), until.AddDate(0, 0, -1).Format("Jan 2"))}
	r.Text = fmt.Sprintf("%s spent in the week (fees included, Clore's figures), %s.", money(users.TotalUSD), weekOverWeek(users.TotalUSD, last))
	for i, row := range users.Rows {
		if i == digestTop {
			break
		}
		r.Fields = append(r.Fields, users.rowField(row))
	}
	for i, row := range gpus.Rows {
		if i == digestTop {
			break
		}
		r.Fields = append(r.Fields, Field{Name: "GPU " + row.Label(), Value: money(row.USD), Short: true})
	}
	if s.policy.TeamMonthlyBudgetUSD > 0 {
		month, err := ss.SpendMonth(ctx, monthStart(slot))
		if err != nil {
			return Reply{}, fmt.Errorf("commands: digest: %w", err)
		}
		spent := 0.0
		for _, v := range month {
			spent += v
		}
		r.Fields = append(r.Fields, Field{Name: "Team budget this month", Value: fmt.Sprintf("%s spent of %s", money(spent), money(s.policy.TeamMonthlyBudgetUSD))})
	}
	if img := users.Chart(chart.Large); img != nil {
		img.Name = "spend-digest.png"
		r.Image = img
	}
	return r, nil
}

// weekOverWeek compares this week's spend with last week's in words.
func weekOverWeek(now, last float64) string {
	switch {
	case last <= 0 && now <= 0:
		return "as the week before"
	case last <= 0:
		return "nothing the week before"
	}
	change := (now - last) / last * 100
	dir := "up"
	if change < 0 {
		dir, change = "down", -change
	}
	return fmt.Sprintf("%s %.0f %% on the week before (%s)", dir, change, money(last))
}
