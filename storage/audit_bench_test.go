package storage

import (
	"context"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// BenchmarkListAudit is `clorebot audit` (the last 24 h, newest 1,000) over
// 200,000 rows, one every 43 s for 100 days: with no index on the time
// (0016_intake_btrees.sql), every listing reads the whole table.
func BenchmarkListAudit(b *testing.B) {
	ctx := context.Background()
	s, err := OpenAndMigrate(ctx, b.TempDir()+"/clorebot.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	t0 := now.Add(-100 * 24 * time.Hour)
	const rows = 200_000
	batch := make([]commands.AuditEntry, 0, 1000)
	for i := range rows {
		batch = append(batch, commands.AuditEntry{At: t0.Add(time.Duration(i) * 43 * time.Second),
			Actor: "webhook:zapier", Platform: "webhook", Command: "rent 4090", Outcome: "queued", Detail: "job 06h2a2sd9pk7jbqnlt50"})
		if len(batch) == cap(batch) {
			if err := s.AppendAuditBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.ResetTimer()
	for range b.N {
		got, err := s.ListAudit(ctx, AuditFilter{Since: now.Add(-24 * time.Hour), NewestFirst: true, Limit: 1001})
		if err != nil || len(got) != 1001 {
			b.Fatalf("%d rows, %v", len(got), err)
		}
	}
}
