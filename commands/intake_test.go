package commands_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
	"github.com/clorebot/clorebot/storage/storagetest"
)

// auditRows lists the audit rows of command (prefix) so far.
func auditRows(t *testing.T, h *harness, command string) []commands.AuditEntry {
	t.Helper()
	all, err := h.store.ListAudit(context.Background(), commands.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []commands.AuditEntry
	for _, e := range all {
		if strings.HasPrefix(e.Command, command) {
			out = append(out, e)
		}
	}
	return out
}

// A chat rent is one write transaction: the job and its audit row are
// committed together, and Handle writes no second row; a rent refused by a
// counted cap is audited in that transaction too.
func TestRentIsOneTransactionWithItsAuditRow(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.MaxActiveOrders, h.policy.ConfirmAbove = 1, 0
	svc := h.service()
	ctx := context.Background()
	c0, u0 := h.store.IntakeStats()
	r := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
	if r.Status != commands.StatusQueued {
		t.Fatalf("rent = %+v", r)
	}
	c1, u1 := h.store.IntakeStats()
	if c1-c0 != 1 || u1-u0 != 1 {
		t.Errorf("rent took %d intake transactions for %d units, want 1 and 1", c1-c0, u1-u0)
	}
	rows := auditRows(t, h, "rent")
	if len(rows) != 1 || rows[0].Outcome != commands.StatusQueued || rows[0].Detail != "job "+r.JobID || rows[0].USDPerHour == nil {
		t.Fatalf("audit rows = %+v, want one queued row for job %s with its price", rows, r.JobID)
	}
	denied := svc.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
	if denied.Status != commands.StatusDenied || !strings.Contains(denied.Text, "max_active_orders") {
		t.Fatalf("second rent = %+v, want refused naming max_active_orders", denied)
	}
	rows = auditRows(t, h, "rent")
	if len(rows) != 2 || rows[1].Outcome != commands.StatusDenied || rows[1].USDPerHour != nil {
		t.Fatalf("audit rows = %+v, want the refusal as a second row, without a price", rows)
	}
}

// claim is a webhook-like dedup claim whose answer is "<status> <text>".
func claim(id, body string) commands.DedupClaim {
	sum := sha256.Sum256([]byte(body))
	return commands.DedupClaim{Key: "zapier", IDs: []string{id}, Hash: sum[:], At: time.Now(), StaleBefore: time.Now().Add(-time.Minute),
		Answer: func(r commands.Reply) (int, []byte) {
			status := 202
			switch r.Status {
			case commands.StatusError:
				status = 400
			case commands.StatusDenied:
				status = 403
			}
			return status, []byte(fmt.Sprintf("%s %s", r.Status, r.JobID))
		}}
}

// HandleOnce records a request's answer with its job, replays it to a
// redelivery, refuses the id with another request, records a refusal
// answered before any job, and records nothing for a temporary failure.
func TestHandleOnceRecordsTheAnswerWithTheJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.ConfirmAbove = 0
	svc := h.service()
	ctx := context.Background()
	rent := func(gpu string) commands.Request {
		cmd, err := commands.Parse("rent " + gpu + " --hours 1")
		if err != nil {
			t.Fatal(err)
		}
		return commands.Request{Platform: commands.PlatformWebhook, User: "webhook:zapier", Channel: "webhook",
			IdempotencyKey: "webhook:zapier:" + gpu, Command: &cmd}
	}
	r, res := svc.HandleOnce(ctx, rent("3090"), claim("msg_1", "3090"))
	if r.Status != commands.StatusQueued || res.State != commands.DedupRecorded || string(res.Answer) != "queued "+r.JobID {
		t.Fatalf("first = %+v / %+v", r, res)
	}
	_, again := svc.HandleOnce(ctx, rent("3090"), claim("msg_1", "3090"))
	if again.State != commands.DedupReplayed || string(again.Answer) != string(res.Answer) {
		t.Errorf("redelivery = %+v, want the first answer replayed", again)
	}
	if _, reused := svc.HandleOnce(ctx, rent("3090"), claim("msg_1", "another body")); reused.State != commands.DedupReused {
		t.Errorf("reused id = %+v", reused)
	}
	bad, badRes := svc.HandleOnce(ctx, rent("nosuchgpu"), claim("msg_2", "nosuchgpu"))
	if bad.Status != commands.StatusError || badRes.State != commands.DedupRecorded || badRes.Status != 400 {
		t.Errorf("unknown GPU = %+v / %+v, want a recorded 400", bad, badRes)
	}
	if rows := auditRows(t, h, "rent"); len(rows) != 2 {
		t.Errorf("%d audit rows, want 2 (the rent and the refusal; none for the replays)", len(rows))
	}
	jobs, err := h.store.ResumableJobs(ctx, time.Now())
	if err != nil || len(jobs) != 1 {
		t.Errorf("%d jobs (%v), want 1", len(jobs), err)
	}

	cold := commands.New(commands.Options{Store: h.store, Clore: h.client, Policy: h.policy}) // no snapshot yet
	warmingUp, coldRes := cold.HandleOnce(ctx, rent("3090"), claim("msg_3", "3090"))
	if !warmingUp.Temporary || coldRes.State != commands.DedupNone {
		t.Errorf("warming up = %+v / %+v, want a temporary failure, nothing recorded", warmingUp, coldRes)
	}
	if found, _, _, _, err := h.store.LookupWebhook(ctx, "zapier", "msg_3"); found || err != nil {
		t.Errorf("a temporary failure was recorded (%v)", err)
	}
}

// A redelivery of a message another process recorded (so the store's
// writer meets its record only when its first attempt writes, and runs the
// batch again the careful way) is replayed, and HandleOnce's reply is not
// the rolled-back attempt's "queued", which was never stored.
func TestHandleOnceRedeliveryOfAnotherProcessHasNoReplyOfItsOwn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.ConfirmAbove = 0
	ctx := context.Background()
	other, err := storage.OpenAndMigrate(ctx, storagetest.At(t, filepath.Join(h.dir, "clorebot.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cmd, err := commands.Parse("rent 3090 --hours 1")
	if err != nil {
		t.Fatal(err)
	}
	rent := commands.Request{Platform: commands.PlatformWebhook, User: "webhook:zapier", Channel: "webhook",
		IdempotencyKey: "webhook:zapier:msg_x", Command: &cmd}
	first, res := warm(t, commands.New(commands.Options{Store: other, Clore: h.client, Policy: h.policy})).
		HandleOnce(ctx, rent, claim("msg_x", "3090"))
	if res.State != commands.DedupRecorded || first.JobID == "" {
		t.Fatalf("first delivery = %+v / %+v", first, res)
	}
	r, again := h.service().HandleOnce(ctx, rent, claim("msg_x", "3090"))
	if again.State != commands.DedupReplayed || string(again.Answer) != string(res.Answer) {
		t.Errorf("redelivery = %+v, want the first answer replayed", again)
	}
	if r.JobID != "" || r.Status == commands.StatusQueued {
		t.Errorf("redelivery's reply = %+v: the job of an attempt rolled back", r)
	}
}
