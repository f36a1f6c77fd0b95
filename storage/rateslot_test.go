package storage

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

var (
	anyLane    = map[string]time.Duration{"any": time.Second}
	createLane = map[string]time.Duration{"any": time.Second, "create": 5 * time.Second}
)

func TestReserveSlotSpacing(t *testing.T) {
	now := epoch
	tests := []struct {
		name  string
		steps []map[string]time.Duration
		want  []time.Duration // offsets from now
	}{
		{"sequential any", []map[string]time.Duration{anyLane, anyLane, anyLane}, []time.Duration{0, time.Second, 2 * time.Second}},
		{"create then any", []map[string]time.Duration{createLane, anyLane}, []time.Duration{0, time.Second}},
		{"create, any, create", []map[string]time.Duration{createLane, anyLane, createLane}, []time.Duration{0, time.Second, 5 * time.Second}},
		{"any then create", []map[string]time.Duration{anyLane, createLane, createLane}, []time.Duration{0, time.Second, 6 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			for i, lanes := range tt.steps {
				slot, err := s.ReserveSlot(context.Background(), "key", now, lanes)
				if err != nil {
					t.Fatalf("ReserveSlot %d: %v", i, err)
				}
				if want := now.Add(tt.want[i]); !slot.Equal(want) || slot.Location() != time.UTC {
					t.Fatalf("slot %d = %v, want %v in UTC", i, slot, want.UTC())
				}
			}
		})
	}
}

func TestReserveSlotAfterIdle(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if _, err := s.ReserveSlot(ctx, "key", epoch, createLane); err != nil {
		t.Fatalf("ReserveSlot: %v", err)
	}
	later := epoch.Add(time.Hour)
	slot, err := s.ReserveSlot(ctx, "key", later, createLane)
	if err != nil || !slot.Equal(later) {
		t.Fatalf("ReserveSlot after an idle hour = %v, %v; want now (%v)", slot, err, later)
	}
}

func TestReserveSlotKeysAreIndependent(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	for _, key := range []string{"a", "b"} {
		slot, err := s.ReserveSlot(ctx, key, epoch, anyLane)
		if err != nil || !slot.Equal(epoch) {
			t.Fatalf("ReserveSlot(%q) = %v, %v; want %v", key, slot, err, epoch)
		}
	}
}

func TestReserveSlotRejectsBadInput(t *testing.T) {
	s, _ := newStore(t)
	tests := []struct {
		name  string
		key   string
		lanes map[string]time.Duration
	}{
		{"no key", "", anyLane},
		{"no lanes", "key", nil},
		{"negative spacing", "key", map[string]time.Duration{"any": -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.ReserveSlot(context.Background(), tt.key, epoch, tt.lanes); err == nil {
				t.Fatal("ReserveSlot succeeded, want an error")
			}
		})
	}
}

func TestNextSlot(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	next, err := s.NextSlot(ctx, "key", []string{"any", "create"})
	if err != nil || !next.IsZero() {
		t.Fatalf("NextSlot before any reservation = %v, %v; want zero", next, err)
	}
	if _, err := s.ReserveSlot(ctx, "key", epoch, createLane); err != nil {
		t.Fatalf("ReserveSlot: %v", err)
	}
	tests := []struct {
		lanes []string
		want  time.Time
	}{
		{[]string{"any"}, epoch.Add(time.Second)},
		{[]string{"create"}, epoch.Add(5 * time.Second)},
		{[]string{"any", "create"}, epoch.Add(5 * time.Second)},
		{[]string{"other"}, time.Time{}},
	}
	for _, tt := range tests {
		next, err := s.NextSlot(ctx, "key", tt.lanes)
		if err != nil || !next.Equal(tt.want) {
			t.Errorf("NextSlot(%v) = %v, %v; want %v", tt.lanes, next, err, tt.want)
		}
	}
}

// TestReserveSlotConcurrentProcesses stands in for two clorebot processes on
// one database: two Stores on the same file, each with its own writer.
func TestReserveSlotConcurrentProcesses(t *testing.T) {
	path := migratedDBPath(t)
	a, _ := newStoreAt(t, path)
	b := openStore(t, path)
	stores := []*Store{a, b}

	const n = 20
	slots := make([]time.Time, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			slots[i], errs[i] = stores[i%2].ReserveSlot(context.Background(), "key", epoch, anyLane)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ReserveSlot %d: %v", i, err)
		}
	}
	slices.SortFunc(slots, func(x, y time.Time) int { return x.Compare(y) })
	if !slots[0].Equal(epoch) {
		t.Errorf("first slot = %v, want %v", slots[0], epoch)
	}
	for i := 1; i < n; i++ {
		if gap := slots[i].Sub(slots[i-1]); gap < time.Second {
			t.Errorf("slots %d and %d are %v apart, want at least 1s", i-1, i, gap)
		}
	}
}
