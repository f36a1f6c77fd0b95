package clore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// grants runs n callers concurrently through l and returns when each was let through.
func grants(t *testing.T, l *Limiter, n int, create func(i int) bool, ctx func(i int) context.Context) []time.Time {
	t.Helper()
	var mu sync.Mutex
	var at []time.Time
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := context.Background()
			if ctx != nil {
				c = ctx(i)
			}
			if err := l.Wait(c, create != nil && create(i)); err != nil {
				t.Errorf("Wait: %v", err)
				return
			}
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	return at
}

func TestLimiterSpacesConcurrentCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLimiter(LimiterOptions{APIKey: "k", Interval: time.Second, CreateInterval: 5 * time.Second})
		start := time.Now()
		at := grants(t, l, 20, nil, nil)
		if len(at) != 20 {
			t.Fatalf("got %d grants, want 20", len(at))
		}
		for i := 1; i < len(at); i++ {
			if gap := at[i].Sub(at[i-1]); gap < time.Second {
				t.Errorf("calls %d and %d only %v apart", i-1, i, gap)
			}
		}
		if total := at[19].Sub(start); total != 19*time.Second {
			t.Errorf("20 calls took %v, want 19s (no slot wasted)", total)
		}
	})
}

func TestLimiterSpacesCreateOrders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLimiter(LimiterOptions{APIKey: "k", Interval: time.Second, CreateInterval: 5 * time.Second})
		var mu sync.Mutex
		var creates, all []time.Time
		var wg sync.WaitGroup
		for i := range 20 {
			create := i%4 == 0
			wg.Go(func() {
				if err := l.Wait(context.Background(), create); err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				all = append(all, time.Now())
				if create {
					creates = append(creates, time.Now())
				}
			})
		}
		wg.Wait()
		for _, ts := range [][]time.Time{creates, all} {
			slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		}
		for i := 1; i < len(creates); i++ {
			if gap := creates[i].Sub(creates[i-1]); gap < 5*time.Second {
				t.Errorf("create_order %d and %d only %v apart", i-1, i, gap)
			}
		}
		for i := 1; i < len(all); i++ {
			if gap := all[i].Sub(all[i-1]); gap < time.Second {
				t.Errorf("calls %d and %d only %v apart", i-1, i, gap)
			}
		}
		if len(creates) != 5 || len(all) != 20 {
			t.Fatalf("got %d creates, %d calls", len(creates), len(all))
		}
	})
}

func TestLimiterServesInteractiveFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLimiter(LimiterOptions{APIKey: "k", Interval: time.Second, CreateInterval: 5 * time.Second})
		bg := WithPriority(context.Background(), Background)
		var mu sync.Mutex
		var order []string
		record := func(name string) {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
		}
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if err := l.Wait(bg, false); err != nil {
					t.Error(err)
				}
				record("bg")
			})
		}
		synctest.Wait() // one background call went through, four wait
		time.Sleep(100 * time.Millisecond)
		wg.Go(func() {
			if err := l.Wait(context.Background(), false); err != nil {
				t.Error(err)
			}
			record("user")
		})
		wg.Wait()
		if want := []string{"bg", "user", "bg", "bg", "bg", "bg"}; !slices.Equal(order, want) {
			t.Errorf("order = %v, want %v", order, want)
		}
	})
}

func TestLimiterHonoursCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLimiter(LimiterOptions{APIKey: "k", Interval: time.Second, CreateInterval: 5 * time.Second})
		if err := l.Wait(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		// The next create_order may go at +5s; the deadline is +2s.
		if err := l.Wait(ctx, true); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want deadline exceeded", err)
		}
		if waited := time.Since(start); waited != 2*time.Second {
			t.Errorf("gave up after %v, want 2s", waited)
		}
		// Cancelled waiters in the queue leave it; the rest still get through.
		ctx2, cancel2 := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := range 6 {
			c := context.Background()
			if i%2 == 1 {
				c = ctx2
			}
			wg.Go(func() { _ = l.Wait(c, false) })
		}
		synctest.Wait()
		cancel2()
		wg.Wait()
		if err := l.Wait(context.Background(), false); err != nil {
			t.Fatal(err)
		}
	})
}

// Two limiters on one store (two processes on one database) never send closer
// than the interval together.
func TestLimiterSharedStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := NewMemorySlots()
		a := NewLimiter(LimiterOptions{APIKey: "k", Interval: time.Second, CreateInterval: 5 * time.Second, Store: store})
		b := NewLimiter(LimiterOptions{APIKey: "k", Interval: time.Second, CreateInterval: 5 * time.Second, Store: store})
		var mu sync.Mutex
		var at []time.Time
		var wg sync.WaitGroup
		for i := range 10 {
			l := a
			if i%2 == 0 {
				l = b
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
			if gap := at[i].Sub(at[i-1]); gap < time.Second {
				t.Errorf("calls %d and %d only %v apart", i-1, i, gap)
			}
		}
	})
}
