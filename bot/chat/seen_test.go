package chat

import (
	"fmt"
	"testing"
	"time"
)

func TestSeen(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	s := NewSeen(time.Minute, 1000)
	steps := []struct {
		id    string
		after time.Duration
		first bool
	}{
		{"a", 0, true},
		{"a", time.Second, false}, // redelivered
		{"b", 2 * time.Second, true},
		{"", 3 * time.Second, true}, // no id: never a duplicate
		{"", 3 * time.Second, true},
		{"a", 59 * time.Second, false}, // still within the window
		{"a", 60 * time.Second, true},  // expired: new again
		{"b", 62 * time.Second, true},
		{"a", 61 * time.Second, false}, // the renewed a is remembered
		{"a", 119 * time.Second, false},
		{"a", 121 * time.Second, true},
	}
	for i, st := range steps {
		if got := s.First(st.id, t0.Add(st.after)); got != st.first {
			t.Errorf("step %d: First(%q, +%v) = %v, want %v", i, st.id, st.after, got, st.first)
		}
	}
}

// Beyond max ids the oldest are forgotten; the set never grows past max,
// and a burst far larger than max stays O(1) per id.
func TestSeenBounded(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	s := NewSeen(time.Hour, 100)
	for i := range 100_000 {
		if !s.First(fmt.Sprint(i), t0) {
			t.Fatalf("id %d reported seen", i)
		}
	}
	if n := s.Len(); n > 100 {
		t.Fatalf("%d ids remembered, max 100", n)
	}
	if s.First("99999", t0) {
		t.Error("the newest id was forgotten")
	}
	if !s.First("0", t0) {
		t.Error("the oldest id is still remembered beyond max")
	}
}

func BenchmarkSeenFirst(b *testing.B) {
	s := NewSeen(15*time.Minute, 1<<16)
	now := time.Now()
	i := 0
	for b.Loop() {
		s.First(fmt.Sprint(i), now)
		i++
	}
}
