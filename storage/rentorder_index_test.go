package storage

import (
	"context"
	"strings"
	"testing"
)

// The lookup of a Clore order's rent job reads the partial index of
// migration 0015 (which leaves out jobs without an order), not the table.
func TestRentJobOfOrderUsesItsIndex(t *testing.T) {
	s, _ := newStore(t)
	rows, err := s.read.QueryContext(context.Background(), `EXPLAIN QUERY PLAN SELECT id FROM jobs
		WHERE kind = 'rent' AND json_extract(checkpoint, '$.clore_order_id') = ? ORDER BY created_at LIMIT 1`, 42)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "jobs_rent_order_idx") {
		t.Fatalf("plan %q does not use jobs_rent_order_idx", p)
	}
}
