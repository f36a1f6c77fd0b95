package commands

import (
	"strings"
	"testing"
	"time"
)

// Job ids sort by creation time, stay URL-safe and differ within one
// millisecond.
func TestJobIDsSortByTime(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC)
	prev := ""
	seen := map[string]bool{}
	for i := range 2000 {
		id := newJobID(t0.Add(time.Duration(i/4) * time.Millisecond))
		if len(id) != 20 || strings.Trim(id, "0123456789abcdefghijklmnopqrstuv") != "" {
			t.Fatalf("job id %q: want 20 lower-case base32hex characters", id)
		}
		if seen[id] {
			t.Fatalf("job id %q twice", id)
		}
		seen[id] = true
		if i%4 == 0 && id < prev {
			t.Fatalf("job id %q of a later millisecond sorts before %q", id, prev)
		}
		prev = id
	}
}
