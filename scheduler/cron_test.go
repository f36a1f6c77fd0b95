package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/robfig/cron/v3"
)

// A cron run's slot is the time its expression named, however late the
// run starts, so that a digest is recorded once per slot.
func TestSlot(t *testing.T) {
	weekly, err := cron.ParseStandard("0 9 * * 1") // Mondays 09:00 UTC
	if err != nil {
		t.Fatal(err)
	}
	monday := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		now, want time.Time
	}{
		{monday, monday},
		{monday.Add(3 * time.Second), monday},
		{monday.Add(59 * time.Minute), monday},
		{monday.Add(-30 * time.Second), monday.Add(-time.Minute)}, // no slot in the last hour: the minute
	} {
		if got := Slot(weekly, tc.now); !got.Equal(tc.want) {
			t.Errorf("Slot(%s) = %s, want %s", tc.now, got, tc.want)
		}
	}
	every5, _ := cron.ParseStandard("*/5 * * * *")
	if got := Slot(every5, monday.Add(7*time.Minute+30*time.Second)); !got.Equal(monday.Add(5 * time.Minute)) {
		t.Errorf("Slot every 5 min = %s, want 09:05", got)
	}
}

// Cron runs its task on gocron at the times the expression names, each
// run given its slot.
func TestCronRunsAtSlot(t *testing.T) {
	start := time.Date(2026, 12, 7, 8, 59, 58, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(start)
	s, err := New(Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	slots := make(chan time.Time, 4)
	if err := s.Cron("digest", "0 9 * * *", func(_ context.Context, slot time.Time) error {
		slots <- slot
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Cron("bad", "every tuesday", nil); err == nil {
		t.Error("a bad expression was registered")
	}
	s.Start()
	defer s.Stop()
	deadline := time.After(10 * time.Second)
	for {
		clock.Advance(time.Second)
		select {
		case slot := <-slots:
			if want := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC); !slot.Equal(want) {
				t.Fatalf("slot = %s, want %s", slot, want)
			}
			return
		case <-deadline:
			t.Fatal("the cron task did not run at 09:00")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
