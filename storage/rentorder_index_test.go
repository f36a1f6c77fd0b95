package storage

import (
	"strings"
	"testing"
)

// The lookup of a Clore order's rent job reads the partial index of
// migration 0015 (which leaves out jobs without an order), not the table.
func TestRentJobOfOrderUsesItsIndex(t *testing.T) {
	s, _ := newStore(t)
	p := queryPlan(t, s, `SELECT id FROM jobs
		WHERE kind = 'rent' AND json_extract(checkpoint, '$.clore_order_id') = ? ORDER BY created_at LIMIT 1`, 42)
	if !strings.Contains(p, "jobs_rent_order_idx") {
		t.Fatalf("plan %q does not use jobs_rent_order_idx", p)
	}
}
