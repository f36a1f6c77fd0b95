package storage

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BenchmarkLeaderFailover measures, with the production timings, how long
// the follower takes to lead after the leader's process is gone: "kill"
// ends the leader's session as kill -9 does (its socket closes; the server
// frees the lock), "pause" freezes its connection as SIGSTOP or a
// partition does (the server ends the session after
// LeaderSessionTimeout). Each op is one failover, from the kill or the
// freeze to the follower's term; the metric is its mean in seconds.
//
//	CLOREBOT_TEST_POSTGRES_URL=postgres://… go test -run '^$' -bench LeaderFailover -benchtime 5x ./storage
func BenchmarkLeaderFailover(b *testing.B) {
	u := leaderURL(b)
	for _, mode := range []string{"kill", "pause"} {
		b.Run(mode, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				key := testKey()
				target := u
				var f *freezer
				if mode == "pause" {
					f = newFreezerB(b, u)
					target = f.url
				}
				a, stopA := startLeaderB(b, LeaderOptions{URL: target, Key: key, Name: "a"})
				waitB(b, a, 15*time.Second)
				c, stopC := startLeaderB(b, LeaderOptions{URL: u, Key: key, Name: "b"})
				time.Sleep(LeaderRetry) // b is following
				start := time.Now()
				if mode == "kill" {
					terminateHolder(b, u, key)
				} else {
					f.freeze()
				}
				waitB(b, c, 30*time.Second)
				total += time.Since(start)
				if f != nil {
					f.thaw()
				}
				stopA()
				stopC()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "failover-s")
		})
	}
}

func startLeaderB(b *testing.B, o LeaderOptions) (*Leader, func()) {
	l, err := NewLeader(o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	return l, func() { cancel(); <-done }
}

func waitB(b *testing.B, l *Leader, within time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if _, err := l.NextTerm(ctx); err != nil {
		b.Fatalf("%s did not lead within %s", l.o.Name, within)
	}
}

// terminateHolder ends the session that holds key's lock.
func terminateHolder(b testing.TB, u string, key int64) {
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objid = ($1::bigint & 4294967295)::oid AND classid = ($1::bigint >> 32)::oid`, key).Scan(&n); err != nil || n != 1 {
		b.Fatalf("terminate the holder: %d sessions, %v", n, err)
	}
}
