package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// usageSQL counts what the guardrails count (DESIGN §5, [commands.GuardUsage])
// in three index scans; %s is "" for the team totals, or a condition that
// keeps the requester's rows only. In-flight rent jobs (queued or running)
// count as active orders with their reservation as spend; an order counts on
// its own once its job has ended (or when no job made it). The states are
// literals so that SQLite uses the partial indexes of 0005 and 0007, which
// the scans read alone. Parameters: 1 excluded job id, 2 requester, 3 start
// of the orders-per-hour window.
const usageSQL = `SELECT
		i.mine + l.mine, i.n + l.n, h.n, i.usd + l.usd
	FROM (SELECT count(*) AS n, count(*) FILTER (WHERE requested_by = ?2) AS mine,
			coalesce(sum(usd_per_hour), 0) AS usd
		FROM jobs INDEXED BY jobs_in_flight_idx
		WHERE kind = 'rent' AND state IN ('queued', 'running') AND id <> ?1 %[1]s) AS i,
	(SELECT count(*) AS n, count(*) FILTER (WHERE requested_by = ?2) AS mine,
			coalesce(sum(usd_per_hour), 0) AS usd
		FROM orders o
		WHERE state IN ('creating', 'provisioning', 'running', 'cancelling') %[1]s
		AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = o.job_id AND j.kind = 'rent'
			AND j.state IN ('queued', 'running') AND j.id <> ?1)) AS l,
	(SELECT count(*) AS n FROM jobs INDEXED BY jobs_rent_created_idx
		WHERE kind = 'rent' AND requested_by = ?2 AND created_at >= ?3
		AND state NOT IN ('awaiting_confirmation', 'cancelled') AND id <> ?1) AS h`

// The two forms of usageSQL.
var (
	usageTeamSQL = fmt.Sprintf(usageSQL, "")
	usageMineSQL = fmt.Sprintf(usageSQL, "AND requested_by = ?2")
)

// rowQuerier is a *sql.Tx or *sql.DB.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// usage counts g's usage with q (inside the caller's transaction).
func usage(ctx context.Context, q rowQuerier, g commands.Guard) (commands.GuardUsage, error) {
	var u commands.GuardUsage
	query := usageMineSQL
	if g.Team {
		query = usageTeamSQL
	}
	err := q.QueryRowContext(ctx, query, g.Exclude, g.Who, formatTime(g.Since)).
		Scan(&u.ActiveOrders, &u.TeamActiveOrders, &u.OrdersLastHour, &u.TeamUSDPerHour)
	if err != nil {
		return u, fmt.Errorf("count usage: %w", err)
	}
	if !g.Team {
		u.TeamActiveOrders, u.TeamUSDPerHour = 0, 0
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
// transaction; a job awaiting since before expiredBefore (its last write) is
// cancelled instead, with
// Error saying the confirmation expired. It returns the job as stored
// afterwards (a job in any other state unchanged) or [ErrNotFound]. rec,
// when set, is written with the move to queued, and only then; when rec's
// request is recorded already nothing is written and the error wraps
// [commands.ErrRepeated].
func (s *Store) ConfirmJobGuarded(ctx context.Context, id string, g *commands.Guard, expiredBefore time.Time, rec *commands.RequestRecord) (commands.Job, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return commands.Job{}, fmt.Errorf("storage: confirm job %s: %w", id, err)
	}
	defer tx.Rollback()
	if rec != nil {
		if err := notRecorded(ctx, tx, *rec); err != nil {
			return commands.Job{}, fmt.Errorf("storage: confirm job %s: %w", id, err)
		}
	}
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
	if j.UpdatedAt.Before(expiredBefore) {
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
	if rec != nil && state == commands.JobQueued {
		if err := recordRequest(ctx, tx, *rec, s.now()); err != nil {
			return j, fmt.Errorf("storage: confirm job %s: %w", id, err)
		}
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

// expireJobsSQL cancels the jobs awaiting confirmation since before ?4 (their
// last write: a fail-over asks anew), found through jobs_awaiting_idx (0018): the state is written literally so
// that SQLite may use the partial index.
const expireJobsSQL = `UPDATE jobs SET state = ?1, error = ?2, updated_at = ?3
	WHERE state = '` + commands.JobAwaitingConfirmation + `' AND updated_at < ?4`

// ExpireJobs cancels the jobs awaiting confirmation since before before
// (policy.confirm_ttl ago) and returns how many it cancelled.
func (s *Store) ExpireJobs(ctx context.Context, before time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, expireJobsSQL,
		commands.JobCancelled, confirmExpired, formatTime(s.now()), formatTime(before))
	if err != nil {
		return 0, fmt.Errorf("storage: expire jobs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("storage: expire jobs: %w", err)
	}
	return int(n), nil
}
