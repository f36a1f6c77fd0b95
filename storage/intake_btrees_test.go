package storage

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// The sweep reads rent jobs and the other kinds through two indexes
// (0016_intake_btrees.sql); the jobs still come back oldest first, every
// kind interleaved, with equal creation times in the order they were
// written.
func TestResumableJobsOfEveryKindOldestFirst(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	now := epoch.UTC().Add(24 * time.Hour)
	seed := []struct {
		key, kind, state string
		tick             bool // advance the clock first
	}{
		{"rent-1", commands.JobRent, commands.JobQueued, true},
		{"cancel-1", commands.JobCancel, commands.JobQueued, true},
		{"rent-2", commands.JobRent, commands.JobRunning, false}, // same time as cancel-1
		{"cancel-done", commands.JobCancel, commands.JobSucceeded, true},
		{"cancel-2", commands.JobCancel, commands.JobRunning, true},
		{"rent-awaiting", commands.JobRent, commands.JobAwaitingConfirmation, true},
		{"rent-3", commands.JobRent, commands.JobQueued, true},
	}
	for _, sd := range seed {
		if sd.tick {
			clock.Advance(time.Second)
		}
		j := newJob(sd.key)
		j.Kind, j.State = sd.kind, sd.state
		createJob(t, s, j)
	}
	jobs, err := s.ResumableJobs(ctx, now)
	if err != nil {
		t.Fatalf("ResumableJobs: %v", err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.IdempotencyKey)
	}
	want := []string{"rent-1", "cancel-1", "rent-2", "cancel-2", "rent-3"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("resumable = %v, want %v", got, want)
	}
}

// The purge deletes the oldest records in the order they were written, up
// to the first young one: never a young record, and an old record written
// after a young one (a clock stepped back) waits for a later purge.
func TestPurgeWebhooksDeletesTheOldPrefix(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	t0 := epoch.UTC()
	for _, r := range []struct {
		id  string
		age time.Duration // before t0
	}{
		{"old-1", 3 * time.Hour}, {"old-2", 2 * time.Hour}, {"young-1", 0},
		{"late-old", 5 * time.Hour}, {"young-2", -time.Minute},
	} {
		at := t0.Add(-r.age)
		if first, _, _, _, err := s.ClaimWebhook(ctx, "k", r.id, []byte("h"), at, at.Add(-time.Hour)); err != nil || !first {
			t.Fatalf("claim %s: %v %v", r.id, first, err)
		}
	}
	n, err := s.PurgeWebhooks(ctx, t0.Add(-time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PurgeWebhooks = %d, %v; want 2 (old-1, old-2)", n, err)
	}
	for id, want := range map[string]bool{"old-1": false, "old-2": false, "young-1": true, "late-old": true, "young-2": true} {
		if found, _, _, _, err := s.LookupWebhook(ctx, "k", id); err != nil || found != want {
			t.Errorf("%s found = %v (%v), want %v", id, found, err, want)
		}
	}
	// Once young-1 is old too, late-old goes with it.
	if n, err := s.PurgeWebhooks(ctx, t0.Add(time.Second)); err != nil || n != 2 {
		t.Fatalf("second purge = %d, %v; want 2 (young-1, late-old)", n, err)
	}
	// Nothing young left before the end: every old record goes.
	if n, err := s.PurgeWebhooks(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("third purge = %d, %v; want 1 (young-2)", n, err)
	}
}

// What keeps the intake transaction to the B-trees it needs: the purge and
// the sweep read by rowid and the partial indexes, and SQLite plans them
// so (a plan that scanned a whole table would still pass the tests above).
func TestIntakeBtreesQueryPlans(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	plan := func(q string, args ...any) string { return queryPlan(t, s, q, args...) }
	at := formatTime(epoch)
	if p := plan(resumableJobsSQL, at, at); !strings.Contains(p, "jobs_in_flight_idx") || !strings.Contains(p, "jobs_open_other_idx") {
		t.Errorf("sweep plan: %s", p)
	}
	p := plan(purgeWebhooksSQL, at, at)
	if !strings.Contains(p, "rowid<?") {
		t.Errorf("purge plan reads more than the old rows: %s", p)
	}
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'webhook_requests'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("webhook_requests has %d indexes (%v), want 1: (key, id)", n, err)
	}
}
