package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// usageSQL counts what the guardrails count (DESIGN §5, [commands.GuardUsage]).
// In-flight rent jobs (queued or running) count as active orders with their
// reservation as spend; an order counts on its own once its job has ended
// (or when no job made it). The states are literals so that SQLite uses the
// partial indexes of 0005. Parameters: 1 excluded job id, 2 requester,
// 3 start of the orders-per-hour window.
const usageSQL = `WITH inflight AS (
		SELECT id, requested_by, usd_per_hour FROM jobs
		WHERE kind = 'rent' AND state IN ('queued', 'running') AND id <> ?1
	), live AS (
		SELECT requested_by, usd_per_hour FROM orders
		WHERE state IN ('creating', 'provisioning', 'running', 'cancelling')
		AND (job_id IS NULL OR job_id NOT IN (SELECT id FROM inflight))
	)
	SELECT
		(SELECT count(*) FROM inflight WHERE requested_by = ?2) + (SELECT count(*) FROM live WHERE requested_by = ?2),
		(SELECT count(*) FROM inflight) + (SELECT count(*) FROM live),
		(SELECT count(*) FROM jobs WHERE kind = 'rent' AND requested_by = ?2 AND created_at >= ?3
			AND state NOT IN ('awaiting_confirmation', 'cancelled') AND id <> ?1),
		(SELECT coalesce(sum(usd_per_hour), 0) FROM inflight) + (SELECT coalesce(sum(usd_per_hour), 0) FROM live)`

// rowQuerier is a *sql.Tx or *sql.DB.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// usage counts g's usage with q (inside the caller's transaction).
func usage(ctx context.Context, q rowQuerier, g commands.Guard) (commands.GuardUsage, error) {
	var u commands.GuardUsage
	err := q.QueryRowContext(ctx, usageSQL, g.Exclude, g.Who, formatTime(g.Since)).
		Scan(&u.ActiveOrders, &u.TeamActiveOrders, &u.OrdersLastHour, &u.TeamUSDPerHour)
	if err != nil {
		return u, fmt.Errorf("count usage: %w", err)
	}
	return u, nil
}

// CheckGuard counts [commands.GuardUsage] for g and returns g.Check's verdict as
// is (nil without Check). It writes nothing.
func (s *Store) CheckGuard(ctx context.Context, g commands.Guard) error {
	if g.Check == nil {
		return nil
	}
	u, err := usage(ctx, s.read, g)
	if err != nil {
		return fmt.Errorf("storage: check guard: %w", err)
	}
	return g.Check(u)
}

// ConfirmJobGuarded moves the job id from awaiting confirmation to queued
// when g admits it (g.Check's error is returned as is), in one immediate
// transaction; a job created before expiredBefore is cancelled instead, with
// Error saying the confirmation expired. It returns the job as stored
// afterwards (a job in any other state unchanged) or [ErrNotFound].
func (s *Store) ConfirmJobGuarded(ctx context.Context, id string, g *commands.Guard, expiredBefore time.Time) (commands.Job, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return commands.Job{}, fmt.Errorf("storage: confirm job %s: %w", id, err)
	}
	defer tx.Rollback()
	byID := `SELECT ` + jobColumns + ` FROM jobs WHERE id = ?`
	j, err := scanJob(tx.QueryRowContext(ctx, byID, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil || j.State != commands.JobAwaitingConfirmation {
		if err != nil {
			err = fmt.Errorf("storage: confirm job %s: %w", id, err)
		}
		return j, err
	}
	state, msg := commands.JobQueued, ""
	if j.CreatedAt.Before(expiredBefore) {
		state, msg = commands.JobCancelled, confirmExpired
	} else if g != nil && g.Check != nil {
		u, err := usage(ctx, tx, *g)
		if err != nil {
			return j, fmt.Errorf("storage: confirm job %s: %w", id, err)
		}
		if err := g.Check(u); err != nil {
			return j, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, error = ?, updated_at = ? WHERE id = ?`,
		state, msg, formatTime(s.now()), id); err != nil {
		return j, fmt.Errorf("storage: confirm job %s: %w", id, err)
	}
	if j, err = scanJob(tx.QueryRowContext(ctx, byID, id)); err != nil {
		return j, fmt.Errorf("storage: confirm job %s: read back: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return j, fmt.Errorf("storage: confirm job %s: %w", id, err)
	}
	return j, nil
}

// confirmExpired is the Error of a rent whose confirmation came too late.
const confirmExpired = "the confirmation expired (policy.confirm_ttl); nothing was rented"

// ExpireJobs cancels the jobs awaiting confirmation created before before
// (policy.confirm_ttl ago) and returns how many it cancelled.
func (s *Store) ExpireJobs(ctx context.Context, before time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE jobs SET state = ?, error = ?, updated_at = ?
		WHERE state = ? AND created_at < ?`,
		commands.JobCancelled, confirmExpired, formatTime(s.now()), commands.JobAwaitingConfirmation, formatTime(before))
	if err != nil {
		return 0, fmt.Errorf("storage: expire jobs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("storage: expire jobs: %w", err)
	}
	return int(n), nil
}
