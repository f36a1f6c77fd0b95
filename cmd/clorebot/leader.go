package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/clorebot/clorebot/bot/discordbot"
	"github.com/clorebot/clorebot/internal/httpserver"
	"github.com/clorebot/clorebot/scheduler"
	"github.com/clorebot/clorebot/storage"
)

// leadership is this serve's part in the election among the serves on one
// PostgreSQL database (DESIGN.md §8): the leader runs the watch tick (with
// the order lifecycle and TTL cancels), the digest and the Discord
// gateway; every serve runs HTTP, the job workers, the deliveries and the
// outbox, and Slack Socket Mode. With SQLite there is one process, no
// election, and it always leads.
type leadership struct {
	leader *storage.Leader
	stop   context.CancelFunc
	done   chan struct{}
}

// openLeader starts campaigning when storage is PostgreSQL. The campaign
// runs until Close, after the scheduler has stopped: the lock is freed
// only once this process's leader-only work has returned.
func (a *App) openLeader(ctx context.Context) error {
	url := a.postgresURL()
	if url == "" {
		return nil
	}
	l, err := storage.NewLeader(storage.LeaderOptions{URL: url, Logger: a.log.With(slog.String("component", "leader")), Name: a.proc.ID})
	if err != nil {
		return err
	}
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	h := &leadership{leader: l, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		_ = l.Run(lctx)
	}()
	a.ha = h
	a.log.Info("leader election on", slog.String("process", a.proc.ID),
		slog.Duration("heartbeat", storage.LeaderHeartbeat), slog.Duration("session_timeout", storage.LeaderSessionTimeout))
	return nil
}

// closeLeader ends the campaign and frees the lock (the other serve leads
// within a retry, 2 s).
func (a *App) closeLeader() {
	if a.ha == nil {
		return
	}
	a.ha.stop()
	<-a.ha.done
}

// elector is the scheduler's elector: nil (always the leader) without an
// election.
func (a *App) elector() scheduler.Elector {
	if a.ha == nil {
		return nil
	}
	return a.ha.leader
}

// discordTerms holds the Discord gateway to this process's terms as
// leader: nil (always held) without an election.
func (a *App) discordTerms() discordbot.Terms {
	if a.ha == nil {
		return nil
	}
	return a.ha.leader
}

// leaderCheck is /readyz's "leader" entry with an election: "leader" or
// "follower", never failing (a follower serves everything but the
// leader-only work).
func (a *App) leaderCheck() []httpserver.Check {
	if a.ha == nil {
		return nil
	}
	return []httpserver.Check{{Name: "leader", Probe: func(context.Context) error { return nil }, Note: func() string {
		if a.ha.leader.Leading() {
			return "leader"
		}
		return "follower"
	}}}
}

// followerTick keeps a follower's snapshots fresh, which the leader's
// watch tick does for the leader: the marketplace its rents choose from
// and the my_orders its `status` answers from. The watches, the order
// lifecycle and the TTL cancels stay with the leader.
func (a *App) followerTick(ctx context.Context) error {
	return errors.Join(a.svc.RefreshMarket(ctx), a.svc.RefreshOrders(ctx))
}

// postgresURL is storage.url when it names PostgreSQL; "" for SQLite.
func (a *App) postgresURL() string {
	u := a.cfg.Storage.URL.Reveal()
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		return u
	}
	return ""
}

// sharedSandboxURL, set only by the tests (ha_e2e_test.go, from
// CLOREBOTTEST_SANDBOX_URL in the test binary run as clorebot), points
// sandbox mode at one sandbox that several serve processes share, so that
// the test counts Clore's limits across both; sandbox mode keeps its short
// spacings. Empty in the clorebot binary.
var sharedSandboxURL string
