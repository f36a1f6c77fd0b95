package storage

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// plainUnit is unit without its event: what an accepted signed
// create-order writes (dedup record, job, audit row, answer), the batch's
// first attempt writing it with one multi-row INSERT per table.
func plainUnit(id string) commands.IntakeUnit {
	u := unit(id, nil)
	finish := u.Finish
	u.Finish = func(o commands.IntakeOutcome) commands.IntakeWrites {
		w := finish(o)
		w.Events = nil
		return w
	}
	return u
}

// commitBatch runs units as one batch of s's writer.
func commitBatch(s *Store, units ...commands.IntakeUnit) []*intakeCall {
	batch := make([]*intakeCall, len(units))
	for i, u := range units {
		batch[i] = s.newIntakeCall(context.Background(), u)
	}
	s.intake.commit(s, batch)
	return batch
}

// A batch of new requests is written in its first attempt, every row as
// the careful path writes it.
func TestIntakeFirstAttemptWritesEveryRow(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	var units []commands.IntakeUnit
	for i := range 20 { // more than one INSERT's rows (maxRowsPerInsert)
		units = append(units, plainUnit(fmt.Sprintf("msg_%02d", i)))
	}
	batch := commitBatch(s, units...)
	if n := s.intake.attempts.Load(); n != 0 {
		t.Errorf("%d careful attempts, want 0", n)
	}
	for i, c := range batch {
		if c.err != nil || !c.res.Created || c.res.Dedup.State != commands.DedupRecorded || c.res.Dedup.Status != 202 {
			t.Fatalf("unit %d = %+v, %v", i, c.res, c.err)
		}
		stored, err := s.GetJob(ctx, c.res.Job.ID)
		if err != nil || !reflect.DeepEqual(stored, c.res.Job) {
			t.Errorf("unit %d: stored job %+v (%v), answered %+v", i, stored, err, c.res.Job)
		}
		id := units[i].Dedup.IDs[0]
		found, hash, status, answer, err := s.LookupWebhook(ctx, "zapier", id)
		if err != nil || !found || status != 202 || string(answer) != `{"job_id":"job-`+id+`"}` || string(hash) != string(units[i].Dedup.Hash) {
			t.Errorf("%s record: %v %d %s (%v)", id, found, status, answer, err)
		}
	}
	wantCounts(t, s, 20, 20, 20, 0)
	audit, err := s.ListAudit(ctx, AuditFilter{})
	if err != nil || len(audit) != 20 || audit[3].Detail != "job job-msg_03" || audit[3].Outcome != "queued" {
		t.Fatalf("audit = %+v, %v", audit, err)
	}
}

// A redelivery of a message this writer recorded lately is written the
// careful way on its own: the batch around it is not run again.
func TestIntakeRecentRedeliveryDoesNotRerunItsBatch(t *testing.T) {
	s, _ := newStore(t)
	commitBatch(s, plainUnit("msg_a"))
	batch := commitBatch(s, plainUnit("msg_b"), plainUnit("msg_a"), plainUnit("msg_c"), plainUnit("msg_b"))
	if n := s.intake.attempts.Load(); n != 0 {
		t.Errorf("%d careful attempts, want 0", n)
	}
	want := []commands.DedupState{commands.DedupRecorded, commands.DedupReplayed, commands.DedupRecorded, commands.DedupReplayed}
	for i, c := range batch {
		if c.err != nil || c.res.Dedup.State != want[i] || c.res.Dedup.Status != 202 {
			t.Errorf("unit %d = %+v, %v; want %v", i, c.res, c.err, want[i])
		}
	}
	wantCounts(t, s, 3, 3, 3, 0)
}

// A redelivery of a message another process recorded meets its record when
// the first attempt writes: the batch runs again the careful way, the
// redelivery gets the first answer and the others are written.
func TestIntakeRedeliveryOfAnotherProcessIsFoundTheCarefulWay(t *testing.T) {
	path := migratedDBPath(t)
	s1, _ := newStoreAt(t, path)
	s2 := openStore(t, path)
	other := plainUnit("msg_x")
	other.Finish = func(o commands.IntakeOutcome) commands.IntakeWrites {
		return commands.IntakeWrites{Audit: &commands.AuditEntry{Outcome: "queued"}, Status: 202, Answer: []byte(`{"from":"s2"}`)}
	}
	if res, err := s2.Intake(context.Background(), other); err != nil || res.Dedup.State != commands.DedupRecorded {
		t.Fatalf("s2: %+v, %v", res, err)
	}
	batch := commitBatch(s1, plainUnit("msg_1"), plainUnit("msg_x"), plainUnit("msg_2"))
	if n := s1.intake.attempts.Load(); n != 1 {
		t.Errorf("%d careful attempts, want 1", n)
	}
	if c := batch[1]; c.err != nil || c.res.Dedup.State != commands.DedupReplayed || string(c.res.Dedup.Answer) != `{"from":"s2"}` || c.res.Created {
		t.Errorf("redelivery = %+v, %v", c.res, c.err)
	}
	for _, c := range []*intakeCall{batch[0], batch[2]} {
		if c.err != nil || !c.res.Created || c.res.Dedup.State != commands.DedupRecorded {
			t.Errorf("new unit = %+v, %v", c.res, c.err)
		}
	}
	wantCounts(t, s1, 3, 3, 3, 0)
}

// A unit whose answer is not recorded (a temporary failure) writes no
// record its redelivery could meet: the first attempt looks its ids up.
func TestIntakeUnrecordedAnswerOfARecordedMessage(t *testing.T) {
	path := migratedDBPath(t)
	s1, _ := newStoreAt(t, path)
	s2 := openStore(t, path)
	if _, err := s2.Intake(context.Background(), plainUnit("msg_x")); err != nil {
		t.Fatal(err)
	}
	temp := plainUnit("msg_x")
	temp.Job = nil
	temp.Finish = func(commands.IntakeOutcome) commands.IntakeWrites {
		return commands.IntakeWrites{Audit: &commands.AuditEntry{Outcome: "error"}, Status: 503}
	}
	batch := commitBatch(s1, plainUnit("msg_1"), temp)
	if c := batch[1]; c.err != nil || c.res.Dedup.State != commands.DedupReplayed || c.res.Dedup.Status != 202 {
		t.Errorf("redelivery answered 503 = %+v, %v; want the recorded 202", c.res, c.err)
	}
	if c := batch[0]; c.err != nil || c.res.Dedup.State != commands.DedupRecorded {
		t.Errorf("msg_1 = %+v, %v", c.res, c.err)
	}
}

// A guarded unit counts the jobs of the units written before it in the
// same batch.
func TestIntakeGuardCountsTheBatchBeforeIt(t *testing.T) {
	s, _ := newStore(t)
	capOne := &commands.Guard{Who: "webhook:zapier", Check: func(u commands.GuardUsage) error {
		if u.ActiveOrders >= 1 {
			return &commands.CapError{Cap: "max_active_orders", Limit: 1}
		}
		return nil
	}}
	first := plainUnit("msg_1")
	capped := plainUnit("msg_2")
	capped.Guard = capOne
	batch := commitBatch(s, first, capped)
	var ce *commands.CapError
	if c := batch[1]; c.err != nil || c.res.Created || !errors.As(c.res.Refused, &ce) || c.res.Dedup.Status != 403 {
		t.Errorf("capped = %+v, %v; want refused by max_active_orders", c.res, c.err)
	}
	if n := s.intake.attempts.Load(); n != 0 {
		t.Errorf("%d careful attempts, want 0", n)
	}
	wantCounts(t, s, 1, 2, 2, 0)
}

// Close while units wait in the writer's queue: each caller returns, with
// its unit committed or ErrClosed; none is left waiting.
func TestIntakeCloseWithUnitsQueued(t *testing.T) {
	s, err := OpenAndMigrate(context.Background(), migratedDBPath(t))
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	blocking := plainUnit("msg_block")
	finish := blocking.Finish
	blocking.Finish = func(o commands.IntakeOutcome) commands.IntakeWrites {
		close(entered)
		<-release
		return finish(o)
	}
	errs := make(chan error, 4)
	go func() { _, err := s.Intake(context.Background(), blocking); errs <- err }()
	<-entered // the writer is inside the first batch
	for i := range 3 {
		go func() { _, err := s.Intake(context.Background(), plainUnit(fmt.Sprint("msg_q", i))); errs <- err }()
	}
	for len(s.intake.calls) < 3 { // queued behind the batch
		runtime.Gosched()
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for !isClosed(s.intake.quit) {
		runtime.Gosched()
	}
	close(release)
	for range 4 {
		select {
		case err := <-errs:
			if err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("Intake = %v, want nil or ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("an Intake caller was left waiting after Close")
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// The caller works out its job's row ahead (prepareUnit); a job it cannot
// store is still refused by the writer, alone, and the others commit.
func TestIntakeInvalidJobIsRefusedAlone(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	bad := plainUnit("msg_bad")
	bad.Job.Params = []byte("{not json")
	if s.prepareUnit(bad) != nil {
		t.Fatal("a job with invalid params was prepared")
	}
	results := make([]error, 3)
	var wg sync.WaitGroup
	for i, u := range []commands.IntakeUnit{plainUnit("msg_1"), bad, plainUnit("msg_2")} {
		wg.Go(func() { _, results[i] = s.Intake(ctx, u) })
	}
	wg.Wait()
	if results[0] != nil || results[2] != nil || results[1] == nil || !strings.Contains(results[1].Error(), "params") {
		t.Fatalf("results = %v; want the invalid job refused alone", results)
	}
	wantCounts(t, s, 2, 2, 2, 0)
}
