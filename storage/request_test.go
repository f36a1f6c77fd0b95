package storage

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"

	"github.com/clorebot/clorebot/storage/storagetest"
)

// An extend keyed by its request writes the new end and the record in one
// transaction: concurrent deliveries of one request move the end once, the
// others find the record (ErrRepeated) and write nothing.
func TestExtendOrderKeyed(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	end := epoch.Add(time.Hour)
	o := Order{ServerID: 1, CloreOrderID: ptr(int64(7)), State: OrderRunning, ExpiresAt: &end}
	if err := s.CreateOrder(ctx, &o); err != nil {
		t.Fatal(err)
	}
	rec := commands.RequestRecord{Key: "slack:cmd:T1", Actor: "slack:U1", Command: "extend 7 2", Answer: []byte(`{"status":"ok"}`)}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			later := end.Add(2 * time.Hour)
			o := o
			o.ExpiresAt = &later
			errs[i] = s.ExtendOrder(ctx, o, end, rec, commands.Event{Type: "order.extended"})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, commands.ErrRepeated):
			t.Errorf("a redelivery failed otherwise: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d deliveries extended, want 1", won)
	}
	got, _ := s.GetOrderByCloreID(ctx, 7)
	if !got.ExpiresAt.Equal(end.Add(2 * time.Hour)) {
		t.Fatalf("end = %v", got.ExpiresAt)
	}
	stored, err := s.RequestAnswer(ctx, rec.Key, rec.Actor)
	if err != nil || stored.Command != rec.Command || string(stored.Answer) != string(rec.Answer) {
		t.Fatalf("RequestAnswer = %+v, %v", stored, err)
	}
	if _, err := s.RequestAnswer(ctx, rec.Key, "slack:U2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another actor's answer: %v", err)
	}
	// A conflict (the end moved) writes no record either.
	other := rec
	other.Key = "slack:cmd:T2"
	if err := s.ExtendOrder(ctx, o, end, other); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale end: %v", err)
	}
	if _, err := s.RequestAnswer(ctx, other.Key, other.Actor); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused extend was recorded: %v", err)
	}
	if n, err := s.PurgeRequests(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("PurgeRequests = %d, %v", n, err)
	}
}

// A replay record is claimed once until it expires, by any number of
// callers at once.
func TestClaimReplay(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	now := epoch
	var wg sync.WaitGroup
	firsts := make([]bool, 8)
	for i := range firsts {
		wg.Go(func() {
			first, err := s.ClaimReplay(ctx, "discord:1", now, now.Add(10*time.Minute))
			if err != nil {
				t.Error(err)
			}
			firsts[i] = first
		})
	}
	wg.Wait()
	n := 0
	for _, f := range firsts {
		if f {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d first claims, want 1", n)
	}
	if first, _ := s.ClaimReplay(ctx, "discord:1", now.Add(9*time.Minute), now.Add(19*time.Minute)); first {
		t.Fatal("claimed again within its window")
	}
	if first, _ := s.ClaimReplay(ctx, "discord:1", now.Add(10*time.Minute), now.Add(20*time.Minute)); !first {
		t.Fatal("not claimable once expired")
	}
	if n, err := s.PurgeReplays(ctx, now.Add(21*time.Minute)); err != nil || n != 1 {
		t.Fatalf("PurgeReplays = %d, %v", n, err)
	}
}

// Expired parts of reply targets are wiped from jobs, orders and watches,
// through the partial indexes; live ones stay; a write never brings an
// expired one back.
func TestWipeReplyTargets(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	now := time.Now()
	expiring := commands.ExpiringTarget(`{"c":"C1","u":"U1"}`, "https://hooks.slack.example/secret", now.Add(30*time.Minute))
	live := commands.ExpiringTarget(`{"c":"C2","u":"U1"}`, "https://hooks.slack.example/live", now.Add(2*time.Hour))
	j := newJob("wipe-1")
	j.ReplyTarget = expiring
	createJob(t, s, j)
	j2 := newJob("wipe-2")
	j2.ReplyTarget = live
	createJob(t, s, j2)
	o := Order{ServerID: 1, State: OrderRunning, ReplyTarget: expiring}
	if err := s.CreateOrder(ctx, &o); err != nil {
		t.Fatal(err)
	}
	w := commands.Watch{Owner: "slack:U1", State: commands.WatchActive, ReplyTarget: expiring}
	if _, err := s.CreateWatch(ctx, &w, 0); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"jobs", "orders", "watches"} {
		if s.pg {
			break // SQLite's query plans
		}
		var plan string
		q := "EXPLAIN QUERY PLAN SELECT 1 FROM " + table + " WHERE instr(reply_target, char(31)) > 0"
		rows, err := s.read.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			_ = rows.Scan(&id, &parent, &unused, &detail)
			plan += detail
		}
		rows.Close()
		if !strings.Contains(plan, table+"_reply_expiring_idx") {
			t.Errorf("the wipe of %s reads %q, not its partial index", table, plan)
		}
	}
	if n, err := s.WipeReplyTargets(ctx, now.Add(time.Minute)); err != nil || n != 0 {
		t.Fatalf("wipe before expiry = %d, %v", n, err)
	}
	if n, err := s.WipeReplyTargets(ctx, now.Add(31*time.Minute)); err != nil || n != 3 {
		t.Fatalf("wipe after expiry = %d, %v; want 3", n, err)
	}
	for _, table := range []string{"jobs", "orders", "watches"} {
		var n int
		if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE reply_target LIKE '%secret%'").Scan(&n); err != nil || n != 0 {
			t.Errorf("%s keeps %d expired response_urls (%v)", table, n, err)
		}
	}
	if got, _ := s.GetJob(ctx, createJob(t, s, newJob("wipe-3")).ID); got.ReplyTarget == "" {
		t.Fatal("no target")
	}
	stored, _ := s.GetOrder(ctx, o.ID)
	if stored.ReplyTarget != `{"c":"C1","u":"U1"}` {
		t.Fatalf("wiped order target = %q", stored.ReplyTarget)
	}
	// The watch cache writes back what it read before the wipe: an expired
	// part is not written again.
	s.Now = func() time.Time { return now.Add(31 * time.Minute) }
	if err := s.UpdateWatch(ctx, w); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetWatch(ctx, w.ID)
	if strings.Contains(got.ReplyTarget, "secret") {
		t.Fatalf("UpdateWatch wrote back an expired response_url: %q", got.ReplyTarget)
	}
	j2got, _ := s.GetJob(ctx, createJob(t, s, newJob("wipe-4")).ID)
	_ = j2got
	var liveKept int
	_ = s.read.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE reply_target LIKE '%/live%'").Scan(&liveKept)
	if liveKept != 1 {
		t.Fatalf("a live response_url was wiped")
	}
}

// Targets stored before 0022 held the response_url and the interaction
// token in the open; the migration drops them.
func TestMigration0022WipesOldTargets(t *testing.T) {
	storagetest.Skip(t, "migrations before PostgreSQL's baseline (0026)")
	ctx := context.Background()
	path := tempDBPath(t)
	old := openStore(t, path)
	n := slices.IndexFunc(old.migrations, func(m migration) bool { return m.version == 22 })
	old.migrations = old.migrations[:n] // up to 0021
	if _, err := old.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{`{"c":"C1","u":"U1","r":"https://hooks.slack.example/commands/secret"}`,
		"discord:v1:555:1700000000000:aW50ZXJhY3Rpb24tdG9rZW4", "https://callback.example/ok"} {
		if _, err := old.write.ExecContext(ctx, `INSERT INTO orders (server_id, state, reply_target, created_at, updated_at)
			VALUES (1, 'running', ?, ?, ?)`, target, formatTime(epoch), formatTime(epoch)); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ := newStoreAt(t, path)
	rows, err := s.read.QueryContext(ctx, `SELECT reply_target FROM orders ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var v string
		_ = rows.Scan(&v)
		got = append(got, v)
	}
	want := []string{`{"c":"C1","u":"U1"}`, "discord:v1:555:1700000000000:", "https://callback.example/ok"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("targets after 0022 = %q, want %q", got, want)
	}
}
