package storage

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

const testPassword = "TESTPASSWORD7Q2W9E"

// rentJob stores a rent job whose params hold testPassword.
func rentJob(t *testing.T, s *Store, key, platform, state string, created time.Time) commands.Job {
	t.Helper()
	j, _, err := s.CreateJob(context.Background(), commands.Job{Kind: commands.JobRent, IdempotencyKey: key,
		State: state, Platform: platform, RequestedBy: platform + ":x", CreatedAt: created,
		Params: json.RawMessage(`{"gpu":"RTX 4090","ssh_password":"` + testPassword + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// passwordRows lists where testPassword is still stored, table by table.
func passwordRows(t *testing.T, s *Store) []string {
	t.Helper()
	var where []string
	queries := []string{
		`SELECT 'jobs ' || id FROM jobs WHERE instr(coalesce(params, ''), ?) > 0`,
		`SELECT 'outbox ' || id FROM outbox WHERE instr(data, ?) > 0`,
		`SELECT 'webhook_requests ' || id FROM webhook_requests WHERE instr(coalesce(CAST(answer AS TEXT), ''), ?) > 0`,
	}
	if s.pg {
		queries = []string{
			`SELECT 'jobs ' || id FROM jobs WHERE strpos(coalesce(params, ''), ?) > 0`,
			`SELECT 'outbox ' || id FROM outbox WHERE strpos(data, ?) > 0`,
			`SELECT 'webhook_requests ' || id FROM webhook_requests WHERE strpos(coalesce(encode(answer, 'escape'), ''), ?) > 0`,
		}
	}
	for _, q := range queries {
		rows, err := s.read.Query(q, testPassword)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var w string
			if err := rows.Scan(&w); err != nil {
				t.Fatal(err)
			}
			where = append(where, w)
		}
		rows.Close()
	}
	return where
}

func connectionData(jobID string) json.RawMessage {
	return json.RawMessage(`{"job_id":"` + jobID + `","fields":[{"name":"Password","value":"` + testPassword + `"}]}`)
}

// Delivered to its callback_url, the password is gone from the job and the
// outbox in the transaction that records the delivery.
func TestDeliveredConnectionIsWiped(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	now := clock.Now()
	j := rentJob(t, s, "k1", commands.PlatformWebhook, commands.JobSucceeded, now)
	if err := s.EnqueueConnection(ctx, j.ID, connectionData(j.ID), "https://cb.example/x", "key:zap", "msg_conn_"+j.ID, now); err != nil {
		t.Fatal(err)
	}
	// Again, as a resumed job would: nothing new.
	if err := s.EnqueueConnection(ctx, j.ID, connectionData(j.ID), "https://cb.example/x", "key:zap", "msg_conn_"+j.ID, now); err != nil {
		t.Fatal(err)
	}
	due, err := s.ClaimDueDeliveries(ctx, now, now.Add(time.Minute), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due = %d, %v", len(due), err)
	}
	if got := passwordRows(t, s); len(got) != 2 {
		t.Fatalf("before delivery the password is in %v, want the job and the event", got)
	}
	// A failed attempt keeps it for the next one.
	if err := s.RecordDeliveryAttempt(ctx, commands.DeliveryAttempt{ID: due[0].ID, At: now, Status: 500, Error: "HTTP 500",
		State: commands.DeliveryPending, NextAt: now}); err != nil {
		t.Fatal(err)
	}
	if got := passwordRows(t, s); len(got) != 2 {
		t.Fatalf("after a failed attempt the password is in %v", got)
	}
	if err := s.RecordDeliveryAttempt(ctx, commands.DeliveryAttempt{ID: due[0].ID, At: now, Status: 204, State: commands.DeliveryDelivered}); err != nil {
		t.Fatal(err)
	}
	if got := passwordRows(t, s); len(got) != 0 {
		t.Fatalf("after delivery the password is still in %v", got)
	}
	job, _ := s.GetJob(ctx, j.ID)
	if !strings.Contains(string(job.Params), `"gpu":"RTX 4090"`) {
		t.Errorf("the rest of the params went too: %s", job.Params)
	}
}

// Without a callback_url the details wait for one TakeConnection.
func TestTakeConnectionOnce(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	j := rentJob(t, s, "k1", commands.PlatformWebhook, commands.JobSucceeded, clock.Now())
	if _, ok, err := s.TakeConnection(ctx, j.ID); ok || err != nil {
		t.Fatalf("before any details: ok=%v err=%v", ok, err)
	}
	if err := s.EnqueueConnection(ctx, j.ID, connectionData(j.ID), "", "", "", clock.Now()); err != nil {
		t.Fatal(err)
	}
	data, ok, err := s.TakeConnection(ctx, j.ID)
	if err != nil || !ok || !strings.Contains(string(data), testPassword) {
		t.Fatalf("take = %s %v %v", data, ok, err)
	}
	if _, ok, _ := s.TakeConnection(ctx, j.ID); ok {
		t.Fatal("taken twice")
	}
	if got := passwordRows(t, s); len(got) != 0 {
		t.Fatalf("after the hand-over the password is still in %v", got)
	}
}

// After 24 h at most, whatever happened: pending deliveries are
// dead-lettered and every password is wiped. Failed jobs are wiped at the
// first sweep; a succeeded chat or CLI rent keeps its password for the
// 24 h, for its renter's `status <order-id>`.
func TestWipeSecretsAfter24Hours(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	start := clock.Now()
	pending := rentJob(t, s, "pending", commands.PlatformWebhook, commands.JobSucceeded, start)
	pickup := rentJob(t, s, "pickup", commands.PlatformWebhook, commands.JobSucceeded, start)
	chat := rentJob(t, s, "chat", "slack", commands.JobSucceeded, start)
	cli := rentJob(t, s, "cli", commands.PlatformCLI, commands.JobSucceeded, start)
	failed := rentJob(t, s, "failed", commands.PlatformWebhook, commands.JobFailed, start)
	running := rentJob(t, s, "running", commands.PlatformWebhook, commands.JobRunning, start)
	if err := s.EnqueueConnection(ctx, pending.ID, connectionData(pending.ID), "https://cb.example/x", "key:zap", "msg_p", start); err != nil {
		t.Fatal(err)
	}
	if err := s.EnqueueConnection(ctx, pickup.ID, connectionData(pickup.ID), "", "", "", start); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WipeSecrets(ctx, start.Add(-24*time.Hour), start); err != nil {
		t.Fatal(err)
	}
	params := func(id string) string {
		j, err := s.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return string(j.Params)
	}
	for id, kept := range map[string]bool{pending.ID: true, pickup.ID: true, chat.ID: true, cli.ID: true, failed.ID: false, running.ID: true} {
		if got := strings.Contains(params(id), testPassword); got != kept {
			t.Errorf("job %s: password kept = %v, want %v", id, got, kept)
		}
	}

	later := start.Add(24*time.Hour + time.Second)
	n, err := s.WipeSecrets(ctx, later.Add(-24*time.Hour), later)
	if err != nil || n == 0 {
		t.Fatalf("wipe = %d, %v", n, err)
	}
	if got := passwordRows(t, s); len(got) != 0 {
		t.Fatalf("after 24 h the password is still in %v", got)
	}
	ds, err := s.ListDeliveries(ctx, DeliveryFilter{})
	if err != nil || len(ds) != 1 || ds[0].State != commands.DeliveryDead || !strings.Contains(ds[0].LastError, "wiped") {
		t.Fatalf("deliveries = %+v, %v; want the pending one dead-lettered", ds, err)
	}
	if _, ok, _ := s.TakeConnection(ctx, pickup.ID); ok {
		t.Fatal("wiped details were handed over")
	}
	if n, err := s.WipeSecrets(ctx, later.Add(-24*time.Hour), later); err != nil || n != 0 {
		t.Fatalf("second sweep = %d, %v; want nothing left", n, err)
	}
}
