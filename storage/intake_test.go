package storage

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// unit is an accepted create-order of message id under key "zapier": its
// job (key webhook:zapier:<id>), audit row, one event and a 202 answer.
func unit(id string, g *commands.Guard) commands.IntakeUnit {
	return unitWithBody(id, id, g)
}

// unitWithBody is unit whose request hash is that of body.
func unitWithBody(id, body string, g *commands.Guard) commands.IntakeUnit {
	hash := sha256.Sum256([]byte(body))
	job := commands.Job{ID: "job-" + id, Kind: commands.JobRent, IdempotencyKey: "webhook:zapier:" + id,
		State: commands.JobQueued, RequestedBy: "webhook:zapier", Platform: "webhook", USDPerHour: 1,
		Params: []byte(`{"query":"4090"}`)}
	return commands.IntakeUnit{
		Dedup: &commands.DedupClaim{Key: "zapier", IDs: []string{id}, Hash: hash[:], At: epoch, StaleBefore: epoch.Add(-time.Minute)},
		Job:   &job, Guard: g,
		Finish: func(o commands.IntakeOutcome) commands.IntakeWrites {
			if o.Refused != nil {
				return commands.IntakeWrites{Audit: &commands.AuditEntry{Actor: "webhook:zapier", Command: "rent 4090", Outcome: "denied"},
					Status: 403, Answer: []byte(`{"error":"` + o.Refused.Error() + `"}`)}
			}
			return commands.IntakeWrites{
				Audit:  &commands.AuditEntry{Actor: "webhook:zapier", Command: "rent 4090", Outcome: "queued", Detail: "job " + o.Job.ID},
				Events: []commands.Event{{Type: "job.accepted", JobID: o.Job.ID}},
				Status: 202, Answer: []byte(`{"job_id":"` + o.Job.ID + `"}`)}
		},
	}
}

// counts returns the rows of the tables an intake writes.
func counts(t *testing.T, s *Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"jobs", "webhook_requests", "audit", "outbox"} {
		var n int
		if err := s.read.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func wantCounts(t *testing.T, s *Store, jobs, records, audits, events int) {
	t.Helper()
	got := counts(t, s)
	want := map[string]int{"jobs": jobs, "webhook_requests": records, "audit": audits, "outbox": events}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d rows, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

func TestIntakeWritesTheRequestInOneUnit(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	res, err := s.Intake(ctx, unit("msg_1", nil))
	if err != nil || !res.Created || res.Job.ID != "job-msg_1" || res.Dedup.State != commands.DedupRecorded ||
		res.Dedup.Status != 202 || string(res.Dedup.Answer) != `{"job_id":"job-msg_1"}` {
		t.Fatalf("Intake = %+v, %v", res, err)
	}
	wantCounts(t, s, 1, 1, 1, 1)
	found, _, status, answer, err := s.LookupWebhook(ctx, "zapier", "msg_1")
	if err != nil || !found || status != 202 || string(answer) != `{"job_id":"job-msg_1"}` {
		t.Errorf("LookupWebhook = %v %d %s, %v", found, status, answer, err)
	}
	job, err := s.GetJob(ctx, "job-msg_1")
	if err != nil || job.State != commands.JobQueued || string(job.Params) != `{"query":"4090"}` || !job.CreatedAt.Equal(res.Job.CreatedAt) {
		t.Errorf("GetJob = %+v, %v; Intake returned %+v", job, err, res.Job)
	}

	// A redelivery writes nothing and gets the first answer; the same id
	// with another request is refused.
	again, err := s.Intake(ctx, unit("msg_1", nil))
	if err != nil || again.Dedup.State != commands.DedupReplayed || again.Dedup.Status != 202 || string(again.Dedup.Answer) != `{"job_id":"job-msg_1"}` || again.Created {
		t.Errorf("redelivery = %+v, %v", again, err)
	}
	reused, err := s.Intake(ctx, unitWithBody("msg_1", "another body", nil))
	if err != nil || reused.Dedup.State != commands.DedupReused {
		t.Errorf("reused id = %+v, %v", reused, err)
	}
	wantCounts(t, s, 1, 1, 1, 1)
}

// A guardrail refusal is an outcome: no job, but the refusal is audited and
// remembered under the message id.
func TestIntakeRefusalIsRecordedWithoutAJob(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	capOne := &commands.Guard{Who: "webhook:zapier", Since: epoch.Add(-time.Hour), Check: func(u commands.GuardUsage) error {
		if u.ActiveOrders >= 1 {
			return &commands.CapError{Cap: "max_active_orders", Limit: 1, Have: float64(u.ActiveOrders)}
		}
		return nil
	}}
	if res, err := s.Intake(ctx, unit("msg_a", capOne)); err != nil || !res.Created {
		t.Fatalf("first = %+v, %v", res, err)
	}
	res, err := s.Intake(ctx, unit("msg_b", capOne))
	var ce *commands.CapError
	if err != nil || res.Created || !errors.As(res.Refused, &ce) || res.Dedup.State != commands.DedupRecorded || res.Dedup.Status != 403 {
		t.Fatalf("second = %+v, %v", res, err)
	}
	wantCounts(t, s, 1, 2, 2, 1)
}

// Units committed together: the guard of each counts the ones before it in
// the batch, concurrent deliveries of one id make one job, a unit that fails
// (a job id taken by another key, a panicking Finish) is rolled back alone.
func TestIntakeBatchIsolatesAFailedUnit(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	capOne := &commands.Guard{Who: "webhook:zapier", Since: epoch.Add(-time.Hour), Check: func(u commands.GuardUsage) error {
		if u.ActiveOrders >= 1 {
			return &commands.CapError{Cap: "max_active_orders", Limit: 1}
		}
		return nil
	}}
	ok := unit("msg_ok", nil)
	ok.Job.RequestedBy = "webhook:cron" // not counted by zapier's cap
	clash := unit("msg_clash", nil)
	clash.Job.ID = "job-msg_ok" // the id of the unit before it, under another key
	panics := unit("msg_panic", nil)
	panics.Finish = func(commands.IntakeOutcome) commands.IntakeWrites { panic("boom") }
	badEvent := unit("msg_badevent", nil)
	badEvent.Finish = func(o commands.IntakeOutcome) commands.IntakeWrites {
		return commands.IntakeWrites{Events: []commands.Event{{Type: "x", Data: []byte("{not json")}}, Status: 202}
	}
	units := []commands.IntakeUnit{
		ok, clash, unit("msg_dup", capOne), panics, unit("msg_dup", capOne),
		unit("msg_capped", capOne), badEvent, unit("msg_after", nil),
	}
	batch := make([]*intakeCall, len(units))
	for i, u := range units {
		batch[i] = s.newIntakeCall(ctx, u)
	}
	s.intake.commit(s, batch)
	if n := s.intake.attempts.Load(); n != 1 {
		t.Errorf("the batch ran %d more times with savepoints, want 1", n)
	}

	want := []struct {
		err     bool
		created bool
		state   commands.DedupState
		status  int
	}{
		{false, true, commands.DedupRecorded, 202},  // msg_ok
		{true, false, commands.DedupNone, 0},        // msg_clash: job id taken
		{false, true, commands.DedupRecorded, 202},  // msg_dup: the first delivery
		{true, false, commands.DedupNone, 0},        // msg_panic
		{false, false, commands.DedupReplayed, 202}, // msg_dup again: the first answer
		{false, false, commands.DedupRecorded, 403}, // msg_capped: msg_dup is in flight
		{true, false, commands.DedupNone, 0},        // msg_badevent
		{false, true, commands.DedupRecorded, 202},  // msg_after
	}
	for i, c := range batch {
		w := want[i]
		if (c.err != nil) != w.err || c.res.Created != w.created || c.res.Dedup.State != w.state || c.res.Dedup.Status != w.status {
			t.Errorf("unit %d (%s) = %+v, %v; want error %v, created %v, dedup %v %d",
				i, units[i].Dedup.IDs[0], c.res, c.err, w.err, w.created, w.state, w.status)
		}
	}
	if !errors.Is(batch[1].err, ErrConflict) {
		t.Errorf("clash error = %v, want ErrConflict", batch[1].err)
	}
	// msg_ok, msg_dup, msg_after: jobs, records, audits, events; msg_capped: record and audit.
	wantCounts(t, s, 3, 4, 4, 3)
	for _, id := range []string{"msg_clash", "msg_panic", "msg_badevent"} {
		if found, _, _, _, err := s.LookupWebhook(ctx, "zapier", id); found || err != nil {
			t.Errorf("%s was recorded (%v): a failed unit must leave its id free for a retry", id, err)
		}
	}
}

// 40 concurrent deliveries of one message through the group-commit writer:
// one job, one record, every answer the first.
func TestIntakeConcurrentDuplicatesMakeOneJob(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make([]commands.IntakeResult, 40)
	errs := make([]error, 40)
	for i := range results {
		wg.Go(func() {
			u := unit("msg_same", nil)
			u.Job.ID = fmt.Sprintf("job-%d", i) // each delivery proposes its own job id
			results[i], errs[i] = s.Intake(ctx, u)
		})
	}
	wg.Wait()
	created, recorded := 0, 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("delivery %d: %v", i, errs[i])
		}
		if r.Created {
			created++
		}
		if r.Dedup.State == commands.DedupRecorded {
			recorded++
		}
		if string(r.Dedup.Answer) != string(results[0].Dedup.Answer) || r.Dedup.Status != 202 {
			t.Errorf("delivery %d answer %d %s, delivery 0 %s", i, r.Dedup.Status, r.Dedup.Answer, results[0].Dedup.Answer)
		}
	}
	if created != 1 || recorded != 1 {
		t.Errorf("%d created, %d recorded; want 1 and 1", created, recorded)
	}
	if n := s.intake.attempts.Load(); n != 0 {
		t.Errorf("%d batches ran again with savepoints; duplicates are no failure", n)
	}
	wantCounts(t, s, 1, 1, 1, 1)
}

// A record left at status 0 by a claim-first delivery is in flight while
// fresh and taken over once stale.
func TestIntakeInFlightAndStaleClaims(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	u := unit("msg_claimed", nil)
	d := u.Dedup
	if first, _, _, _, err := s.ClaimWebhook(ctx, d.Key, d.IDs[0], d.Hash, epoch, epoch.Add(-time.Minute)); err != nil || !first {
		t.Fatalf("ClaimWebhook = %v, %v", first, err)
	}
	if res, err := s.Intake(ctx, u); err != nil || res.Dedup.State != commands.DedupInFlight || res.Created {
		t.Fatalf("fresh claim: %+v, %v", res, err)
	}
	d.StaleBefore = epoch.Add(time.Second)
	res, err := s.Intake(ctx, u)
	if err != nil || res.Dedup.State != commands.DedupRecorded || !res.Created {
		t.Fatalf("stale claim: %+v, %v", res, err)
	}
	if _, _, status, _, _ := s.LookupWebhook(ctx, "zapier", "msg_claimed"); status != 202 {
		t.Errorf("taken-over record status %d, want 202", status)
	}
	wantCounts(t, s, 1, 1, 1, 1)
}

// Chat and CLI rents carry no dedup claim: job, audit row and events only;
// a unit that records no answer (status 0 or 5xx) leaves its ids free.
func TestIntakeWithoutDedupAndUnrecordedAnswers(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	u := unit("chat", nil)
	u.Dedup = nil
	if res, err := s.Intake(ctx, u); err != nil || !res.Created || res.Dedup.State != commands.DedupNone {
		t.Fatalf("chat rent = %+v, %v", res, err)
	}
	temp := unit("msg_503", nil)
	temp.Job = nil
	temp.Finish = func(commands.IntakeOutcome) commands.IntakeWrites {
		return commands.IntakeWrites{Audit: &commands.AuditEntry{Outcome: "error"}, Status: 503, Answer: []byte(`{}`)}
	}
	if res, err := s.Intake(ctx, temp); err != nil || res.Dedup.State != commands.DedupNone {
		t.Fatalf("503 = %+v, %v", res, err)
	}
	wantCounts(t, s, 1, 0, 2, 1)
}

func TestIntakeAfterCloseFails(t *testing.T) {
	s, err := OpenAndMigrate(context.Background(), migratedDBPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Intake(context.Background(), unit("msg_1", nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Intake(context.Background(), unit("msg_2", nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("Intake after Close = %v, want ErrClosed", err)
	}
}

// kill -9 while a batch is being written: after the restart there is no
// half-written intake (no dedup record without its job, no job without its
// record, audit row or event), and a retry of every message is processed
// afresh. The child process writes units into a batch and is killed while
// the last unit's Finish blocks, before the COMMIT.
func TestIntakeKilledMidBatchLeavesNoHalfWrittenIntake(t *testing.T) {
	if os.Getenv("CLOREBOT_INTAKE_CHILD") != "" {
		intakeChild()
		return
	}
	path := migratedDBPath(t)
	s, err := OpenAndMigrate(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIntakeKilledMidBatchLeavesNoHalfWrittenIntake$")
	cmd.Env = append(os.Environ(), "CLOREBOT_INTAKE_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "in the batch" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the child ended before its batch")
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the child never reached its batch")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()

	s2 := openStore(t, path)
	wantCounts(t, s2, 0, 0, 0, 0)
	checkCounters(t, s2, "kill -9")
	// Every message is processed afresh.
	for _, id := range []string{"msg_k1", "msg_k2", "msg_k3"} {
		res, err := s2.Intake(context.Background(), unit(id, nil))
		if err != nil || !res.Created || res.Dedup.State != commands.DedupRecorded {
			t.Errorf("retry of %s = %+v, %v", id, res, err)
		}
	}
	wantCounts(t, s2, 3, 3, 3, 3)
	checkCounters(t, s2, "the retries")
	var orphans int
	if err := s2.read.QueryRow(`SELECT count(*) FROM webhook_requests w WHERE NOT EXISTS
		(SELECT 1 FROM jobs j WHERE j.idempotency_key = 'webhook:' || w.key || ':' || w.id)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("%d dedup records without their job (%v)", orphans, err)
	}
}

// intakeChild writes three units in one batch; the last one's Finish says
// so on stdout and blocks until the parent kills the process.
func intakeChild() {
	s, err := Open(context.Background(), os.Getenv("CLOREBOT_INTAKE_CHILD"))
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	// Guarded, so that the jobs before it are written (and the guard
	// counters' triggers run) before its Finish blocks.
	last := unit("msg_k3", &commands.Guard{Who: "webhook:zapier", Check: func(commands.GuardUsage) error { return nil }})
	finish := last.Finish
	last.Finish = func(o commands.IntakeOutcome) commands.IntakeWrites {
		finish(o)
		fmt.Println("in the batch")
		os.Stdout.Sync()
		time.Sleep(time.Hour) // killed here, before the COMMIT
		return commands.IntakeWrites{}
	}
	var batch []*intakeCall
	for _, u := range []commands.IntakeUnit{unit("msg_k1", nil), unit("msg_k2", nil), last} {
		batch = append(batch, s.newIntakeCall(context.Background(), u))
	}
	s.intake.commit(s, batch)
	fmt.Println("committed: the test failed to kill the child")
	os.Exit(1)
}
