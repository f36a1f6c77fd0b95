package clore

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// slowSlots is a shared schedule whose reservations of one process come
// back late: the database's lock was held, or the process was paused.
type slowSlots struct {
	*MemorySlots
	delay time.Duration
}

func (s slowSlots) ReserveSlot(ctx context.Context, key string, now time.Time, lanes map[string]time.Duration) (time.Time, error) {
	slot, err := s.MemorySlots.ReserveSlot(ctx, key, now, lanes)
	time.Sleep(s.delay)
	return slot, err
}

// Two processes on one schedule, one of which gets its slots late: its
// calls are re-slotted rather than sent next to the other's, so the calls
// stay a spacing apart less the margin (a tenth) whatever the delay.
func TestLimiterReslotsALateSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := NewMemorySlots()
		const spacing = 110 * time.Millisecond
		fast := NewLimiter(LimiterOptions{APIKey: "k", Interval: spacing, CreateInterval: spacing, Store: store})
		slow := NewLimiter(LimiterOptions{APIKey: "k", Interval: spacing, CreateInterval: spacing, Store: slowSlots{store, 70 * time.Millisecond}})
		var mu sync.Mutex
		var at []time.Time
		var wg sync.WaitGroup
		for i := range 20 {
			l := fast
			if i%2 == 0 {
				l = slow
			}
			wg.Go(func() {
				if err := l.Wait(context.Background(), false); err != nil {
					t.Error(err)
				}
				mu.Lock()
				at = append(at, time.Now())
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.SortFunc(at, func(x, y time.Time) int { return x.Compare(y) })
		for i := 1; i < len(at); i++ {
			if gap := at[i].Sub(at[i-1]); gap < spacing*10/11 {
				t.Errorf("calls %d and %d only %v apart, want %v at least", i-1, i, gap, spacing*10/11)
			}
		}
	})
}
