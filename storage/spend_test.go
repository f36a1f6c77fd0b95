package storage

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// day0 is a UTC midnight the ledger tests start from.
var day0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// monthOf reads SpendMonth and fails the test on an error.
func monthOf(t *testing.T, s *Store, month time.Time) map[string]float64 {
	t.Helper()
	m, err := s.SpendMonth(context.Background(), month)
	if err != nil {
		t.Fatalf("SpendMonth: %v", err)
	}
	return m
}

// TestSpendSettledOnceAcrossRestarts records an order's spend as it runs,
// settles it, then replays the same (and a later, different) final figure
// after reopening the database: the final spend counts exactly once.
func TestSpendSettledOnceAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	path := migratedDBPath(t)
	s, _ := newStoreAt(t, path)
	created := day0.Add(22 * time.Hour) // 22:00 on day 1
	sample := func(usd float64, ended bool) commands.SpendSample {
		return commands.SpendSample{CloreOrderID: 7, Owner: "slack:U1", Door: "slack", GPU: "RTX 4090", GPUCount: 1,
			CreatedAt: created, SpentUSD: usd, Ended: ended}
	}
	// 1 h in: $1; 4 h in (02:00 next day): $4, of which $2 fall on day 2.
	if _, err := s.RecordSpend(ctx, created.Add(time.Hour), []commands.SpendSample{sample(1, false)}); err != nil {
		t.Fatal(err)
	}
	settled, err := s.RecordSpend(ctx, created.Add(4*time.Hour), []commands.SpendSample{sample(4, true)})
	if err != nil || len(settled) != 1 || settled[0] != 7 {
		t.Fatalf("RecordSpend settled = %v, %v; want [7]", settled, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, _ := newStoreAt(t, path)
	for _, usd := range []float64{4, 9} { // the same figure again, and one Clore shows later
		settled, err := s2.RecordSpend(ctx, created.Add(30*time.Hour), []commands.SpendSample{sample(usd, true)})
		if err != nil || len(settled) != 1 {
			t.Fatalf("RecordSpend after restart = %v, %v", settled, err)
		}
	}
	ids, err := s2.SettledSpendOrders(ctx)
	if err != nil || len(ids) != 1 || ids[0] != 7 {
		t.Fatalf("SettledSpendOrders = %v, %v; want [7]", ids, err)
	}
	if m := monthOf(t, s2, day0); !near(m["slack:U1"], 4) || len(m) != 1 {
		t.Fatalf("month = %v; want slack:U1 $4 once", m)
	}
	days, err := s2.SpendDays(ctx, day0, day0.AddDate(0, 0, 3), "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[time.Time]float64{}
	for _, d := range days {
		got[d.Day] += d.USD
	}
	if !near(got[day0], 2) || !near(got[day0.AddDate(0, 0, 1)], 2) {
		t.Fatalf("days = %v; want $2 on each of the two days", got)
	}
}

// TestSpendFirstSampleSpreadsOverPaidTime: an order first seen after it
// ended (a history) is spread over the time its spend paid for.
func TestSpendFirstSampleSpreadsOverPaidTime(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	sm := commands.SpendSample{CloreOrderID: 9, GPU: "A100 80GB", CreatedAt: day0, SpentUSD: 30, PaidFor: 72 * time.Hour, Ended: true}
	if _, err := s.RecordSpend(ctx, day0.AddDate(0, 0, 20), []commands.SpendSample{sm}); err != nil {
		t.Fatal(err)
	}
	days, err := s.SpendDays(ctx, day0, day0.AddDate(0, 1, 0), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 3 {
		t.Fatalf("days = %+v; want 3 days of $10", days)
	}
	for _, d := range days {
		if !near(d.USD, 10) || d.Owner != "" {
			t.Fatalf("day %+v; want $10, not via clorebot", d)
		}
	}
}

// TestSpendOwnerKnownLater: an order first recorded without an owner (my_orders
// showed it before its rent job recorded it) moves to its owner, whole.
func TestSpendOwnerKnownLater(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	base := commands.SpendSample{CloreOrderID: 3, GPU: "RTX 3090", CreatedAt: day0, SpentUSD: 1}
	if _, err := s.RecordSpend(ctx, day0.Add(time.Hour), []commands.SpendSample{base}); err != nil {
		t.Fatal(err)
	}
	owned := base
	owned.Owner, owned.Door, owned.SpentUSD = "discord:42", "discord", 3
	if _, err := s.RecordSpend(ctx, day0.Add(3*time.Hour), []commands.SpendSample{owned}); err != nil {
		t.Fatal(err)
	}
	if m := monthOf(t, s, day0); !near(m["discord:42"], 3) || !near(m[""], 0) {
		t.Fatalf("month = %v; want discord:42 $3, nothing outside", m)
	}
	mine, err := s.SpendDays(ctx, day0, day0.AddDate(0, 0, 1), "discord:42")
	if err != nil || len(mine) != 1 || !near(mine[0].USD, 3) || mine[0].Door != "discord" {
		t.Fatalf("SpendDays(discord:42) = %+v, %v", mine, err)
	}
}

// TestBudgetUsageCounts: the guard's budget counts read the month's spend
// and what active orders and in-flight rents commit.
func TestBudgetUsageCounts(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	now := clock.Now().UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.RecordSpend(ctx, now, []commands.SpendSample{
		{CloreOrderID: 1, Owner: "cli:a", Door: "cli", GPU: "X", CreatedAt: now.Add(-time.Hour), SpentUSD: 5},
		{CloreOrderID: 2, Owner: "cli:b", Door: "cli", GPU: "X", CreatedAt: now.Add(-time.Hour), SpentUSD: 7},
	}); err != nil {
		t.Fatal(err)
	}
	end := now.Add(10 * time.Hour)
	cid := int64(100)
	if _, err := s.AdoptOrder(ctx, commands.Order{CloreOrderID: &cid, ServerID: 1, GPUModel: "X", GPUCount: 1, USDPerHour: 2,
		RequestedBy: "cli:a", State: commands.OrderRunning, CreatedAt: now, UpdatedAt: now, ExpiresAt: &end}, ""); err != nil &&
		!errors.Is(err, commands.ErrConflict) {
		t.Fatalf("AdoptOrder: %v", err)
	}
	if _, _, err := s.CreateJob(ctx, commands.Job{Kind: commands.JobRent, IdempotencyKey: "k1", State: commands.JobQueued,
		RequestedBy: "cli:b", Params: []byte(`{"hours": 3}`), USDPerHour: 1}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GuardUsage(ctx, commands.Guard{Who: "cli:a", Since: now.Add(-time.Hour), Budget: true, Month: month, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !near(got.SpentMonth, 5) || !near(got.TeamSpentMonth, 12) || !near(got.Committed, 20.1) || !near(got.TeamCommitted, 23.2) {
		t.Fatalf("usage = %+v; want spent 5/12, committed 20.1/23.2 (creation fees included)", got)
	}
}

// TestDigestSlotOnce: a slot is claimed once; a claim that lapsed unposted
// (a crash before posting) is claimed again, a posted one never.
func TestDigestSlotOnce(t *testing.T) {
	ctx := context.Background()
	path := migratedDBPath(t)
	s, _ := newStoreAt(t, path)
	slot := day0.Add(9 * time.Hour)
	now := slot.Add(time.Second)
	if ok, err := s.ClaimDigestSlot(ctx, slot, "p1", now, now.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("first claim = %v, %v", ok, err)
	}
	if ok, _ := s.ClaimDigestSlot(ctx, slot, "p2", now, now.Add(time.Minute)); ok {
		t.Fatal("a live claim was taken by another process")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, _ := newStoreAt(t, path)
	later := now.Add(2 * time.Minute)
	if slots, err := s2.UnpostedDigestSlots(ctx, later); err != nil || len(slots) != 1 || !slots[0].Equal(slot) {
		t.Fatalf("UnpostedDigestSlots = %v, %v", slots, err)
	}
	if ok, err := s2.ClaimDigestSlot(ctx, slot, "p2", later, later.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("claim after lapse = %v, %v", ok, err)
	}
	if err := s2.MarkDigestPosted(ctx, slot, later); err != nil {
		t.Fatal(err)
	}
	much := later.Add(time.Hour)
	if ok, _ := s2.ClaimDigestSlot(ctx, slot, "p3", much, much.Add(time.Minute)); ok {
		t.Fatal("a posted slot was claimed again")
	}
	if slots, _ := s2.UnpostedDigestSlots(ctx, much); len(slots) != 0 {
		t.Fatalf("UnpostedDigestSlots after posting = %v", slots)
	}
}
