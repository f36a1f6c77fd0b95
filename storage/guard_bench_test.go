package storage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// BenchmarkCreateJobGuarded is one rent job inserted with the counted caps
// checked in its transaction, against the unguarded insert. Queued rent jobs
// belong to 50 people; 100 orders run. With the default team caps (10 active
// orders) at most 10 rents are ever in flight; 5,000 in flight happen only
// with the team caps off (per-person caps: only the requester's rows are
// read) or raised (the worst case: the whole in-flight index is read).
func BenchmarkCreateJobGuarded(b *testing.B) {
	tests := []struct {
		name          string
		queued        int
		guarded, team bool
	}{
		{"unguarded/queued=5000", 5000, false, false},
		{"per-person caps/queued=5000", 5000, true, false},
		{"all caps/queued=10", 10, true, true},
		{"all caps/queued=5000", 5000, true, true},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			s := openBenchStore(b)
			ctx := context.Background()
			for i := range tt.queued {
				j := commands.Job{Kind: commands.JobRent, IdempotencyKey: fmt.Sprint("q", i), State: commands.JobQueued,
					RequestedBy: fmt.Sprint("u", i%50), USDPerHour: 1}
				if _, _, err := s.CreateJob(ctx, j); err != nil {
					b.Fatal(err)
				}
			}
			for i := range 100 {
				id := int64(i + 1)
				if err := s.CreateOrder(ctx, &commands.Order{CloreOrderID: &id, ServerID: id, RequestedBy: fmt.Sprint("u", i%50),
					USDPerHour: 1, State: commands.OrderRunning}); err != nil {
					b.Fatal(err)
				}
			}
			var g *commands.Guard
			if tt.guarded {
				g = &commands.Guard{Who: "u7", Since: time.Now().Add(-time.Hour), Team: tt.team, Check: func(u commands.GuardUsage) error {
					if u.ActiveOrders < 2 || tt.team && u.TeamActiveOrders < tt.queued+100 {
						return fmt.Errorf("usage %+v", u)
					}
					return nil
				}}
			}
			for i := 0; b.Loop(); i++ {
				// Inserted for others, so that the counted state stays the same.
				j := commands.Job{Kind: commands.JobRent, IdempotencyKey: fmt.Sprint("b", i), State: commands.JobSucceeded, RequestedBy: fmt.Sprint("v", i)}
				if _, _, err := s.CreateJobGuarded(ctx, j, g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func openBenchStore(b *testing.B) *Store {
	b.Helper()
	s, err := OpenAndMigrate(context.Background(), b.TempDir()+"/clorebot.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkGuardCheck is what a guardrail check costs with no rent job
// queued and with 10,000 queued (all by the requester it checks, created
// in the last 50 minutes, so every count that could read them does), 100
// orders running: GuardUsage and its Check alone (the sub-benchmark keeps
// its old name, CheckGuard, so that figures compare), and a guarded insert through
// CreateJobGuarded and through Intake (one caller). Every cap is on (the
// team totals are counted). The jobs the loop inserts count nowhere the
// guard looks (ended, by someone else), so the counted state is the same
// at every iteration.
func BenchmarkGuardCheck(b *testing.B) {
	for _, queued := range []int{0, 10000} {
		s := openBenchStore(b)
		ctx := context.Background()
		now := time.Now()
		seedGuardBench(b, s, queued, now)
		g := commands.Guard{Who: "u7", Since: now.Add(-time.Hour), Team: true, Check: func(u commands.GuardUsage) error {
			if u.ActiveOrders != queued+2 || u.TeamActiveOrders != queued+100 || u.OrdersLastHour != queued {
				return fmt.Errorf("usage %+v", u)
			}
			return nil
		}}
		b.Run(fmt.Sprintf("CheckGuard/queued=%d", queued), func(b *testing.B) {
			for b.Loop() {
				u, err := s.GuardUsage(ctx, g)
				if err == nil {
					err = g.Check(u)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("CreateJobGuarded/queued=%d", queued), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				j := commands.Job{Kind: commands.JobRent, IdempotencyKey: fmt.Sprint("c", i), State: commands.JobSucceeded, RequestedBy: fmt.Sprint("v", i)}
				if _, _, err := s.CreateJobGuarded(ctx, j, &g); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Intake/queued=%d", queued), func(b *testing.B) {
			for i := int64(0); b.Loop(); i++ {
				u := benchUnit(1_000_000 + i)
				u.Job.State, u.Job.RequestedBy, u.Guard = commands.JobSucceeded, fmt.Sprint("v", i), &g
				if res, err := s.Intake(ctx, u); err != nil || !res.Created {
					b.Fatal(res, err)
				}
			}
		})
	}
}

// seedGuardBench queues n rent jobs by u7 (created over the 50 minutes
// before now, one transaction) and runs 100 orders of 50 people, u7's
// two among them; then it checkpoints the WAL away, so that every run
// starts from the database at rest.
func seedGuardBench(b *testing.B, s *Store, n int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	for i := range n {
		j := commands.Job{Kind: commands.JobRent, IdempotencyKey: fmt.Sprint("q", i), State: commands.JobQueued,
			RequestedBy: "u7", USDPerHour: 0.55, CreatedAt: now.Add(-time.Duration(i) * 50 * time.Minute / time.Duration(n))}
		if _, _, _, err := s.createJobTx(ctx, tx, j, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		id := int64(i + 1)
		if err := s.CreateOrder(ctx, &commands.Order{CloreOrderID: &id, ServerID: id, RequestedBy: fmt.Sprint("u", i%50),
			USDPerHour: 1, State: commands.OrderRunning}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
}
