package storage

import (
	"context"
	"testing"
	"time"

	"github.com/clorebot/clorebot/storage/storagetest"
)

// Two processes whose host clocks disagree by two hours agree on the time
// on PostgreSQL: each store's clock follows the database server's.
func TestServerClockOvercomesHostSkew(t *testing.T) {
	if !storagetest.Postgres() {
		t.Skip("PostgreSQL only: SQLite has no server clock")
	}
	ctx := context.Background()
	a, _ := newStore(t)
	b := openStore(t, a.path)
	c := openStore(t, a.path)
	b.clock.hostNow = func() time.Time { return time.Now().Add(time.Hour) }
	c.clock.hostNow = func() time.Time { return time.Now().Add(-time.Hour) }
	for _, s := range []*Store{b, c} {
		if err := s.clock.measure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tb, tc := b.now(), c.now()
	if d := tb.Sub(tc).Abs(); d > 250*time.Millisecond {
		t.Errorf("skewed stores disagree by %s", d)
	}
	if d := tb.Sub(time.Now()).Abs(); d > 250*time.Millisecond {
		t.Errorf("a skewed store is %s off the server (same host)", d)
	}
	// An injected clock still wins.
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b.Now = func() time.Time { return fixed }
	if got := b.now(); !got.Equal(fixed) {
		t.Errorf("now = %s, want the injected %s", got, fixed)
	}
}
