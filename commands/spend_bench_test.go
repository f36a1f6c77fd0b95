package commands_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
)

// BenchmarkSpendMonth is `spend --since month` (an admin's view, by user)
// over a ledger of 100,000 order-days: 3,334 orders of 50 identities on 5
// GPU models, each spending on 30 days of the month. The report reads the
// day sums (spend_days), not the order-days, and the active orders for
// what they commit. Target: <= 50 ms.
func BenchmarkSpendMonth(b *testing.B) {
	ctx := context.Background()
	st, err := storage.OpenAndMigrate(ctx, filepath.Join(b.TempDir(), "clorebot.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	month := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const orders = 3334
	samples := make([]commands.SpendSample, 0, orders)
	for i := range orders {
		samples = append(samples, commands.SpendSample{CloreOrderID: int64(i + 1), Owner: fmt.Sprintf("slack:U%02d", i%50), Door: "slack",
			GPU: []string{"RTX 4090", "RTX 3090", "A100 80GB", "H100 PCIe", "L40S"}[i%5], GPUCount: 1,
			CreatedAt: month, SpentUSD: 30 * 4.8, PaidFor: 30 * 24 * time.Hour, Ended: true})
	}
	if _, err := st.RecordSpend(ctx, month.AddDate(0, 0, 30), samples); err != nil {
		b.Fatal(err)
	}
	clock := &fixedClock{t: month.AddDate(0, 0, 29).Add(12 * time.Hour)}
	svc := commands.New(commands.Options{Store: st, Clock: clock, Policy: commands.Policy{Admins: []string{"slack:ADA"},
		MonthlyBudgetUSD: 500, TeamMonthlyBudgetUSD: 20000}})
	rep, err := svc.Spend(ctx, "slack:ADA", nil, commands.SpendArgs{Since: commands.SpendSinceMonth})
	if err != nil || len(rep.Rows) != 50 || rep.TotalUSD < 16000 {
		b.Fatalf("report = %d rows, $%.2f, %v", len(rep.Rows), rep.TotalUSD, err)
	}
	for b.Loop() {
		if _, err := svc.Spend(ctx, "slack:ADA", nil, commands.SpendArgs{Since: commands.SpendSinceMonth}); err != nil {
			b.Fatal(err)
		}
	}
}
