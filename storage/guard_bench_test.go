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
