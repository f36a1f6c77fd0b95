package scheduler

import (
	"context"
	"testing"
	"time"
)

// Register puts each task that is set under its name, with its interval,
// and no other: exec's table of one task registers one task.
func TestTableRegistersTheTasksThatAreSet(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	nop := func(context.Context) error { return nil }
	slot := func(context.Context, time.Time) error { return nil }
	tab := Table{
		WatchTick: nop, WatchInterval: time.Hour,
		Deliveries: nop, Outbox: nop, JobSweep: nop, EarlyRefresh: nop, SnapshotSave: nop,
		ServeBeat: nop, DedupPurge: nop, RequestPurge: nop, TargetWipe: nop,
		Digest: slot, DigestRetry: nop, DigestSchedule: "@weekly",
	}
	if err := tab.Register(s); err != nil {
		t.Fatal(err)
	}
	want := []string{TaskWatchTick, TaskDeliveries, TaskOutbox, TaskJobSweep, TaskEarlyRefresh, TaskSnapshotSave,
		TaskServeBeat, TaskDedupPurge, TaskRequestPurge, TaskTargetWipe, TaskDigest, TaskDigestRetry}
	if len(s.jobs) != len(want) {
		t.Fatalf("%d tasks registered, want %d", len(s.jobs), len(want))
	}
	for _, name := range want {
		if _, ok := s.jobs[name]; !ok {
			t.Errorf("%s not registered", name)
		}
	}
	if err := tab.Register(s); err == nil {
		t.Fatal("registering the table twice: no error")
	}

	one, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = one.Stop() })
	// Without a schedule the digest is not registered, whatever is set.
	if err := (Table{EarlyRefresh: nop, Digest: slot, DigestRetry: nop}).Register(one); err != nil {
		t.Fatal(err)
	}
	if _, ok := one.jobs[TaskEarlyRefresh]; !ok || len(one.jobs) != 1 {
		t.Fatalf("tasks %v, want only %s", one.jobs, TaskEarlyRefresh)
	}
	if err := one.RunNow(TaskJobSweep); err == nil {
		t.Fatal("RunNow of a task not set: no error")
	}
}

// A bad interval or cron schedule is an error from Register.
func TestTableRefusesABadSchedule(t *testing.T) {
	nop := func(context.Context) error { return nil }
	for name, tab := range map[string]Table{
		"no watch interval": {WatchTick: nop},
		"bad cron":          {DigestSchedule: "every tuesday", Digest: func(context.Context, time.Time) error { return nil }},
	} {
		s, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := tab.Register(s); err == nil {
			t.Errorf("%s: no error", name)
		}
		_ = s.Stop()
	}
}
