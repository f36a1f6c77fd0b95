package storage

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// BenchmarkIntake is one accepted webhook create-order written as
// clorebot writes it: dedup record, rent job, audit row and recorded
// answer, in one Intake unit, from 1 caller at a time and from 8 and 32 at
// once (group commit: the units/commit metric is the batch size). The
// four-transaction path it replaced (claim, job, audit, finish) is the
// baseline.
func BenchmarkIntake(b *testing.B) {
	for _, callers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("one transaction/callers=%d", callers), func(b *testing.B) {
			s := openBenchStore(b)
			var n atomic.Int64
			c0, u0 := s.IntakeStats()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					for i := n.Add(1); i <= int64(b.N); i = n.Add(1) {
						if _, err := s.Intake(context.Background(), benchUnit(i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			c, u := s.IntakeStats()
			b.ReportMetric(float64(u-u0)/float64(max(c-c0, 1)), "units/commit")
		})
	}
	b.Run("four transactions/callers=8", func(b *testing.B) {
		s := openBenchStore(b)
		var n atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				ctx := context.Background()
				for i := n.Add(1); i <= int64(b.N); i = n.Add(1) {
					u := benchUnit(i)
					d := u.Dedup
					now := time.Now()
					if _, _, _, _, err := s.ClaimWebhook(ctx, d.Key, d.IDs[0], d.Hash, now, now.Add(-time.Minute)); err != nil {
						b.Error(err)
						return
					}
					if _, _, err := s.CreateJobGuarded(ctx, *u.Job, nil); err != nil {
						b.Error(err)
						return
					}
					w := u.Finish(commands.IntakeOutcome{})
					if _, err := s.AppendAudit(ctx, *w.Audit); err != nil {
						b.Error(err)
						return
					}
					if err := s.FinishWebhook(ctx, d.Key, d.IDs[0], w.Status, w.Answer, now); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

// benchUnit is the i-th create-order's intake unit.
func benchUnit(i int64) commands.IntakeUnit {
	id := fmt.Sprintf("msg_%024d", i)
	hash := sha256.Sum256([]byte(id))
	job := commands.Job{ID: fmt.Sprintf("job%023d", i), Kind: commands.JobRent, IdempotencyKey: "webhook:load:" + id,
		State: commands.JobQueued, RequestedBy: "webhook:load", Platform: "webhook", Channel: "webhook",
		Params:     []byte(`{"query":"RTX 4090","models":["RTX 4090"],"count":1,"max_per_gpu":0.55,"image":"cloreai/ubuntu22.04-cuda-12.4","hours":1,"min_reliability":0,"ssh_password":"ABCDEFGHIJKLMNOPQRSTUVWXYZ"}`),
		USDPerHour: 0.55, CreatedAt: time.Now()}
	answer := []byte(`{"status":"queued","job_id":"` + job.ID + `","message":"Renting RTX 4090 ×1 from $0.50/GPU/h ($0.50/h in all)…"}` + "\n")
	return commands.IntakeUnit{
		Dedup: &commands.DedupClaim{Key: "load", IDs: []string{id}, Hash: hash[:], At: time.Now(), StaleBefore: time.Now().Add(-time.Minute)},
		Job:   &job,
		Finish: func(commands.IntakeOutcome) commands.IntakeWrites {
			return commands.IntakeWrites{Audit: &commands.AuditEntry{At: time.Now(), Actor: "webhook:load", Platform: "webhook",
				Channel: "webhook", Command: "rent RTX 4090", Outcome: commands.StatusQueued, Detail: "job " + job.ID},
				Status: 202, Answer: answer}
		},
	}
}
