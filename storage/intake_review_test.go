package storage

// Regression tests of the intake speed-up (879f05b, e0bc93a): each failed
// on the code as it landed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"

	"github.com/clorebot/clorebot/storage/storagetest"
)

// Intake on a Store closed before its writer ever started. stop
// closes w.done only when the writer ran; the buffered send in Intake is
// ready together with <-w.quit, so about one call in two queues its unit
// and waits on c.done / w.done, neither of which is ever closed.
func TestIntakeAfterCloseOfAStoreThatNeverWroteFails(t *testing.T) {
	s, err := OpenAndMigrate(context.Background(), migratedDBPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // no Intake before: the writer never started
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := range 32 {
			if _, err := s.Intake(context.Background(), unit(fmt.Sprint("msg_", i), nil)); !errors.Is(err, ErrClosed) {
				done <- fmt.Errorf("Intake %d after Close = %v, want ErrClosed", i, err)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // a watchdog, not a sleep: 32 calls take microseconds
		t.Fatal("Intake after Close of a Store whose writer never started hangs forever (the caller is leaked)")
	}
}

// ExpireJobs runs on every job sweep (commands.DefaultSweepInterval,
// 2 s) on the writer connection, as an UPDATE: it holds the write lock for
// its whole run. Its filter is state = 'awaiting_confirmation' AND
// created_at < ?, which jobs_state_idx served; with that index dropped, it
// scans the whole jobs table (every job ever accepted) every 2 s, stalling
// the intake writer for the length of the scan.
func TestExpireJobsReadsItsPartialIndex(t *testing.T) {
	s, _ := newStore(t)
	p := queryPlan(t, s, expireJobsSQL, "a", "b", "c", "d")
	if !strings.Contains(p, "jobs_awaiting_idx") {
		t.Errorf("ExpireJobs (every sweep, under the write lock) scans the jobs table: %s", p)
	}
}

// One audit row far older than Since (another
// process's clock, a clock stepped back) hides every row written before it,
// even rows perfectly in time order and well inside [Since, now]: not just
// the disordered row the doc comment warns about.
func TestListAuditStrayOldRowHidesNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	t0 := epoch.UTC()
	for _, e := range []struct {
		actor string
		at    time.Time
	}{
		{"in-1", t0.Add(10 * time.Minute)},
		{"in-2", t0.Add(20 * time.Minute)}, // e.g. a denied rent an admin is looking for
		{"stray", t0.Add(-3 * time.Hour)},  // written by a process whose clock is 3 h 20 m late
		{"late-in", t0.Add(5 * time.Minute)},
		{"in-3", t0.Add(30 * time.Minute)},
	} {
		if _, err := s.AppendAudit(ctx, commands.AuditEntry{At: e.at, Actor: e.actor}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListAudit(ctx, AuditFilter{Since: t0})
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, e := range got {
		actors = append(actors, e.Actor)
	}
	if want := []string{"late-in", "in-1", "in-2", "in-3"}; !reflect.DeepEqual(actors, want) {
		t.Errorf("ListAudit since t0 = %v, want %v (by time): rows in the window are hidden by a later stray row", actors, want)
	}
	got, err = s.ListAudit(ctx, AuditFilter{Since: t0.Add(-72 * time.Hour), NewestFirst: true, Limit: 2})
	if err != nil || len(got) != 2 || got[0].Actor != "in-3" || got[1].Actor != "in-2" {
		t.Errorf("newest two = %+v, %v", got, err)
	}
}

// One dedup record whose created_at is in the future (a clock stepped
// forward and back, another process's clock ahead) stops every later purge
// at that row: no record written after it is purged until the clock catches
// up with it, however old they are. Before 0016 they were purged as usual.
func TestPurgeWebhooksPastAFutureDatedRecord(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	t0 := epoch.UTC()
	claim := func(id string, at time.Time) {
		if first, _, _, _, err := s.ClaimWebhook(ctx, "k", id, []byte("h"), at, at.Add(-time.Hour)); err != nil || !first {
			t.Fatalf("claim %s: %v %v", id, first, err)
		}
	}
	claim("skewed", t0.Add(30*24*time.Hour)) // a clock 30 days ahead, once
	for i := range 100 {
		claim(fmt.Sprint("later-", i), t0.Add(time.Duration(i)*time.Minute))
	}
	// Two days later, with a 24 h window: the 100 records are old.
	n, err := s.PurgeWebhooks(ctx, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 100 {
		t.Errorf("PurgeWebhooks = %d, want 100: one future-dated record keeps every later record (the table grows for 30 days)", n)
	}
}

// The first attempt's queued rows stay in w.pend when the attempt
// fails before its final flush (a unit error, errFastPathMiss, a Finish
// panic): the queued jobs' params, SSH password included, are kept in the
// writer's memory until the next batch's first attempt resets pend, which
// on an idle bot may be hours. Before 879f05b nothing of a batch outlived
// the batch in the writer but the reused batch slice.
func TestIntakeKeepsNoQueuedRowsPastItsBatch(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	// A message recorded by another process (not in the recent ring).
	other := openStore(t, s.path)
	other.Now = s.Now
	if _, err := other.Intake(ctx, plainUnit("msg_seen")); err != nil {
		t.Fatal(err)
	}
	secret := plainUnit("msg_secret")
	secret.Job.Params = json.RawMessage(`{"query":"4090","ssh_password":"hunter2-review3"}`)
	// Its redelivery, answered with an unrecorded status: errFastPathMiss.
	redelivery := plainUnit("msg_seen")
	redelivery.Job.IdempotencyKey, redelivery.Job.ID = "webhook:zapier:msg_seen-2", "job-msg_seen-2"
	f := redelivery.Finish
	redelivery.Finish = func(o commands.IntakeOutcome) commands.IntakeWrites {
		w := f(o)
		w.Status = 503
		return w
	}
	batch := commitBatch(s, secret, redelivery)
	if batch[0].err != nil {
		t.Fatal(batch[0].err)
	}
	if s.intake.attempts.Load() == 0 {
		t.Fatal("the first attempt did not fail; the test does not reach the path")
	}
	if strings.Contains(fmt.Sprint(s.intake.pend.jobs), "hunter2-review3") {
		t.Error("after the batch committed, w.pend.jobs still holds the job params with the SSH password")
	}
	batch[0].unit, batch[1].unit = commands.IntakeUnit{}, commands.IntakeUnit{}
}

// Migration 0016 on a database at 0015 with data: every dedup record (at
// status 0 and answered), job and audit row is kept, the queries work, and
// a redelivery of a recorded message is replayed, not created.
func TestMigration0016KeepsData(t *testing.T) {
	storagetest.Skip(t, "migrations before PostgreSQL's baseline (0026)")
	ctx := context.Background()
	path := tempDBPath(t)
	old := openStore(t, path)
	old.migrations = old.migrations[:15]
	if applied, err := old.Migrate(ctx); err != nil || len(applied) != 15 {
		t.Fatalf("Migrate to 0015 = %v, %v", applied, err)
	}
	t0 := epoch.UTC()
	for i, st := range []int{0, 202, 0, 409, 503} {
		at := formatTime(t0.Add(time.Duration(-i) * time.Minute)) // written newest first
		var fin any
		if st != 0 {
			fin = at
		}
		if _, err := old.write.ExecContext(ctx, `INSERT INTO webhook_requests (key, id, body_hash, status, answer, created_at, claimed_at, finished_at)
			VALUES ('zapier', ?, ?, ?, ?, ?, ?, ?)`, fmt.Sprint("m", i), []byte("h"), st, []byte("a"), at, at, fin); err != nil {
			t.Fatal(err)
		}
	}
	states := []string{commands.JobAwaitingConfirmation, commands.JobQueued, commands.JobRunning, commands.JobSucceeded, commands.JobFailed, commands.JobCancelled}
	for _, kind := range []string{commands.JobRent, commands.JobCancel, "other"} {
		for _, st := range states {
			j := newJob(kind + "-" + st)
			j.Kind, j.State, j.USDPerHour = kind, st, 1
			j.CreatedAt = t0.Add(-time.Hour)
			j.UpdatedAt = j.CreatedAt // awaiting since then (ExpireJobs reads updated_at from 0018)
			if _, _, err := old.CreateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 5 {
		if _, err := old.AppendAudit(ctx, commands.AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), Actor: fmt.Sprint("a", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var before [3]int
	for i, tb := range []string{"webhook_requests", "jobs", "audit"} {
		if err := old.read.QueryRowContext(ctx, `SELECT count(*) FROM `+tb).Scan(&before[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ := newStoreAt(t, path)
	for i, tb := range []string{"webhook_requests", "jobs", "audit"} {
		var n int
		if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM `+tb).Scan(&n); err != nil || n != before[i] {
			t.Errorf("%s: %d rows after 0016 (%v), %d before", tb, n, err, before[i])
		}
	}
	var rowids []string
	rows, err := s.read.QueryContext(ctx, `SELECT id FROM webhook_requests ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		rowids = append(rowids, id)
	}
	rows.Close()
	if want := []string{"m4", "m3", "m2", "m1", "m0"}; !slices.Equal(rowids, want) {
		t.Errorf("rowid order %v, want oldest first %v", rowids, want)
	}
	jobs, err := s.ResumableJobs(ctx, t0)
	if err != nil || len(jobs) != 6 { // queued and running of 3 kinds
		t.Errorf("ResumableJobs = %d, %v; want 6", len(jobs), err)
	}
	if n, err := s.ExpireJobs(ctx, t0); err != nil || n != 3 {
		t.Errorf("ExpireJobs = %d, %v; want 3", n, err)
	}
	if first, _, st, _, err := s.ClaimWebhook(ctx, "zapier", "m1", []byte("h"), t0, t0.Add(-time.Hour)); err != nil || first || st != 202 {
		t.Errorf("claim of a recorded message after 0016 = first %v status %d, %v", first, st, err)
	}
	// A stale status-0 record is taken over by an Intake (careful path).
	u := plainUnit("m2")
	u.Dedup.Hash = []byte("h")
	u.Dedup.StaleBefore = t0.Add(time.Hour)
	res, err := s.Intake(ctx, u)
	if err != nil || !res.Created || res.Dedup.State != commands.DedupRecorded {
		t.Errorf("intake taking over m2 = %+v, %v", res, err)
	}
	// A redelivery of an answered message: replayed.
	u = plainUnit("m3")
	u.Dedup.Hash = []byte("h")
	if res, err := s.Intake(ctx, u); err != nil || res.Created || res.Dedup.State != commands.DedupReplayed || res.Dedup.Status != 409 {
		t.Errorf("redelivery of m3 = %+v, %v", res, err)
	}
	if n, err := s.PurgeWebhooks(ctx, t0.Add(time.Second)); err != nil || n != 5 {
		t.Errorf("purge = %d, %v; want 5", n, err)
	}
}
