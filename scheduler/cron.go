package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/robfig/cron/v3"
)

// SlotTask is one run of a cron task for its schedule slot: the time the
// expression named (UTC), which stays the same however late the run starts.
type SlotTask func(ctx context.Context, slot time.Time) error

// slotLookback bounds how far before a run its slot is looked for: a run
// starts within seconds of its slot.
const slotLookback = time.Hour

// Cron registers task under a unique name, to run at the times the cron
// expression expr names (five fields or a descriptor such as "@weekly",
// UTC, as robfig/cron reads them, which gocron uses), each run given the
// slot it runs for.
func (s *Scheduler) Cron(name, expr string, task SlotTask) error {
	return s.CronAs(name, Everywhere, expr, task)
}

// CronAs is Cron for a task of the given role.
func (s *Scheduler) CronAs(name string, role Role, expr string, task SlotTask) error {
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return fmt.Errorf("scheduler: %s: schedule %q: %w", name, expr, err)
	}
	run := func(ctx context.Context) error {
		return task(ctx, Slot(sched, s.clock.Now()))
	}
	return s.add(name, role, 0, gocron.CronJob(expr, false), run)
}

// Slot is the latest time sched names at or before now (UTC), looking
// back slotLookback; now to the minute when it names none in that span.
func Slot(sched cron.Schedule, now time.Time) time.Time {
	now = now.UTC()
	var slot time.Time
	for t := sched.Next(now.Add(-slotLookback)); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		slot = t
	}
	if slot.IsZero() {
		return now.Truncate(time.Minute)
	}
	return slot
}
