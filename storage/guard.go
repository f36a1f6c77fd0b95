package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
)

// usageSQL reads what the guardrails count (DESIGN §5, [commands.GuardUsage])
// from the counters that migration 0020's triggers keep (guard_usage,
// guard_accepted), so that its cost does not grow with the rows counted:
// two rows of guard_usage; the requester's minutes of guard_accepted after
// the window's first (60 for an hour's window); and, so that the window
// starts at Since to the nanosecond as it did when every row was counted,
// the requester's rent jobs created in the window's first minute at or
// after Since, through jobs_rent_created_idx. The excluded job (a job
// re-checking itself) is taken out again from its own row: when in flight
// it counts for itself and covers its orders, which then count on their
// own, as they would without it. The spend comes back in nano-dollars, the
// sum of each row's usd_per_hour rounded to the nano-dollar (usdNanoSQL).
// Parameters: 1 excluded job id, 2 requester, 3 start of the
// orders-per-hour window, 4 its minute (guard_accepted.minute), 5 the end
// of that minute (windowMinute).
const usageSQL = `SELECT
		coalesce((SELECT active FROM guard_usage WHERE team = 0 AND requested_by = ?2), 0) - x.mine + xo.mine,
		coalesce((SELECT active FROM guard_usage WHERE team = 1 AND requested_by = ''), 0) - x.n + xo.n,
		coalesce((SELECT sum(jobs) FROM guard_accepted WHERE requested_by = ?2 AND minute > ?4), 0)
			+ (SELECT count(*) FROM jobs INDEXED BY jobs_rent_created_idx
				WHERE kind = 'rent' AND requested_by = ?2 AND created_at >= ?3 AND created_at < ?5
				AND state NOT IN ('awaiting_confirmation', 'cancelled'))
			- (SELECT count(*) FROM jobs WHERE id = ?1 AND kind = 'rent' AND requested_by = ?2
				AND created_at >= ?3 AND state NOT IN ('awaiting_confirmation', 'cancelled')),
		coalesce((SELECT usd_nano FROM guard_usage WHERE team = 1 AND requested_by = ''), 0) - x.usd + xo.usd
	FROM (SELECT count(*) AS n, count(*) FILTER (WHERE requested_by = ?2) AS mine,
			coalesce(sum(` + usdNanoSQL + `), 0) AS usd
		FROM jobs WHERE id = ?1 AND kind = 'rent' AND state IN ('queued', 'running')) AS x,
	(SELECT count(*) AS n, count(*) FILTER (WHERE requested_by = ?2) AS mine,
			coalesce(sum(` + usdNanoSQL + `), 0) AS usd
		FROM orders WHERE job_id = ?1 AND state IN ('creating', 'provisioning', 'running', 'cancelling')
		AND EXISTS (SELECT 1 FROM jobs WHERE id = ?1 AND kind = 'rent' AND state IN ('queued', 'running'))) AS xo`

// usdNanoSQL is a row's usd_per_hour in the integer nano-dollars that
// guard_usage sums, as migration 0020's triggers work it out: the same
// expression, so that taking a row out subtracts what it added.
const usdNanoSQL = `CAST(usd_per_hour * 1e9 + iif(usd_per_hour < 0, -0.5, 0.5) AS INTEGER)`

// usageSQLPG is usageSQL for PostgreSQL, whose baseline schema spells
// usdNanoSQL as a function (0026_price_history.pg.sql).
var usageSQLPG = strings.ReplaceAll(usageSQL, usdNanoSQL, `clorebot_usd_nano(usd_per_hour)`)

// usageQuery is usageSQL in the store's dialect.
func usageQuery(pg bool) string {
	if pg {
		return usageSQLPG
	}
	return usageSQL
}

// rowQuerier is a *sql.Tx or *sql.DB.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// usage reads g's usage with q (inside the caller's transaction). The
// counts are those the rows give; the spend differs from the float sum of
// the rows' usd_per_hour by at most half a nano-dollar per row.
func usage(ctx context.Context, q rowQuerier, g commands.Guard, pg bool) (commands.GuardUsage, error) {
	var u commands.GuardUsage
	var usdNano int64
	since := formatTime(g.Since)
	minute, end := windowMinute(since)
	err := q.QueryRowContext(ctx, usageQuery(pg), g.Exclude, g.Who, since, minute, end).
		Scan(&u.ActiveOrders, &u.TeamActiveOrders, &u.OrdersLastHour, &usdNano)
	if err != nil {
		return u, fmt.Errorf("count usage: %w", err)
	}
	u.TeamUSDPerHour = float64(usdNano) / 1e9
	if !g.Team {
		u.TeamActiveOrders, u.TeamUSDPerHour = 0, 0
	}
	if g.Budget {
		if err := budgetUsage(ctx, q, g, &u, pg); err != nil {
			return u, err
		}
	}
	return u, nil
}

// activeOrderStates are the states of an order not ended, as SQL.
const activeOrderStates = `('creating', 'provisioning', 'running', 'cancelling')`

// budgetSQL reads the monthly budgets' counts ([commands.GuardUsage]
// SpentMonth, Committed and the team's): the month's spend from
// spend_months (one row per owner of the month), and what is committed:
// each order not ended, its price until its end (an order without an end
// whose rent job is still in flight is counted as that job instead; one
// without an end and without such a job until the month's end), and each
// queued or running rent job without an order that has an end, its
// reservation × the hours it asked for (none: until the month's end). Each
// such rent, and each order younger than the creation fee's grace (whose
// fee the ledger cannot show yet), also commits Clore's creation fee. The
// excluded job (a job re-checking itself) and its orders are left out.
// Parameters: 1 month ('YYYY-MM'), 2 requester, 3 now, 4 the month's end,
// 5 excluded job id, 6 the creation fee (USD), 7 now less the fee's grace.
// The requester's sums filter the team's rows.
const budgetSQL = `WITH
	ord AS (SELECT requested_by, usd_per_hour * max(0, julianday(coalesce(expires_at, ?4)) - julianday(?3)) * 24
			+ iif(created_at > ?7, ?6, 0) AS usd
		FROM orders o WHERE state IN ` + activeOrderStates + ` AND o.job_id IS NOT ?5
		AND NOT (expires_at IS NULL AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = o.job_id AND j.kind = 'rent' AND j.state IN ('queued', 'running')))),
	job AS (SELECT requested_by, usd_per_hour * coalesce(nullif(json_extract(params, '$.hours'), 0), (julianday(?4) - julianday(?3)) * 24) + ?6 AS usd
		FROM jobs j WHERE kind = 'rent' AND state IN ('queued', 'running') AND id <> ?5
		AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.job_id = j.id AND o.state IN ` + activeOrderStates + ` AND o.expires_at IS NOT NULL)),
	committed AS (SELECT * FROM ord UNION ALL SELECT * FROM job)
	SELECT
		coalesce((SELECT nano FROM spend_months WHERE month = ?1 AND owner = ?2), 0),
		coalesce((SELECT sum(nano) FROM spend_months WHERE month = ?1), 0),
		coalesce((SELECT sum(usd) FROM committed WHERE requested_by = ?2), 0),
		coalesce((SELECT sum(usd) FROM committed), 0)`

// budgetSQLPG is budgetSQL for PostgreSQL: hours between two stored times
// through timestamptz instead of julianday, and the parameters' types
// spelled out (each is used where PostgreSQL would infer another).
const budgetSQLPG = `WITH
	ord AS (SELECT requested_by, usd_per_hour * greatest(0, extract(epoch FROM
				coalesce(expires_at, ?4::text)::timestamptz - ?3::text::timestamptz) / 3600)
			+ CASE WHEN created_at > ?7::text THEN ?6::float8 ELSE 0 END AS usd
		FROM orders o WHERE state IN ` + activeOrderStates + ` AND o.job_id IS DISTINCT FROM ?5::text
		AND NOT (expires_at IS NULL AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = o.job_id AND j.kind = 'rent' AND j.state IN ('queued', 'running')))),
	job AS (SELECT requested_by, usd_per_hour * coalesce(nullif((params::jsonb ->> 'hours')::float8, 0),
				extract(epoch FROM ?4::text::timestamptz - ?3::text::timestamptz) / 3600) + ?6::float8 AS usd
		FROM jobs j WHERE kind = 'rent' AND state IN ('queued', 'running') AND id <> ?5::text
		AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.job_id = j.id AND o.state IN ` + activeOrderStates + ` AND o.expires_at IS NOT NULL)),
	committed AS (SELECT * FROM ord UNION ALL SELECT * FROM job)
	SELECT
		coalesce((SELECT nano FROM spend_months WHERE month = ?1::text AND owner = ?2::text), 0),
		coalesce((SELECT sum(nano) FROM spend_months WHERE month = ?1::text), 0),
		coalesce((SELECT sum(usd) FROM committed WHERE requested_by = ?2::text), 0),
		coalesce((SELECT sum(usd) FROM committed), 0)`

// creationFeeGrace is how long an order runs before Clore charges its
// creation fee (clore-api.md §10).
const creationFeeGrace = 10 * time.Minute

// budgetUsage adds the monthly budgets' counts of g to u.
func budgetUsage(ctx context.Context, q rowQuerier, g commands.Guard, u *commands.GuardUsage, pg bool) error {
	var mine, team int64
	end := g.Month.AddDate(0, 1, 0)
	query := budgetSQL
	if pg {
		query = budgetSQLPG
	}
	err := q.QueryRowContext(ctx, query, g.Month.UTC().Format(monthLayout), g.Who, formatTime(g.Now), formatTime(end), g.Exclude,
		clore.DefaultCreationFeeUSD, formatTime(g.Now.Add(-creationFeeGrace))).
		Scan(&mine, &team, &u.Committed, &u.TeamCommitted)
	if err != nil {
		return fmt.Errorf("count budget usage: %w", err)
	}
	u.SpentMonth, u.TeamSpentMonth = float64(mine)/1e9, float64(team)/1e9
	return nil
}

// windowMinute splits the stored time since (formatTime) into the minute
// guard_accepted files it under (its first 16 characters) and the least
// string above every time of that minute: a job created at or after since
// is in a minute after it, or in [since, end).
func windowMinute(since string) (minute, end string) {
	minute = since[:16]
	return minute, minute[:15] + string(minute[15]+1)
}

// GuardUsage reads [commands.GuardUsage] for g from what is committed; the
// caller decides (g.Check is not called). It writes nothing.
func (s *Store) GuardUsage(ctx context.Context, g commands.Guard) (commands.GuardUsage, error) {
	u, err := usage(ctx, preparedReads{s}, g, s.pg)
	if err != nil {
		return u, fmt.Errorf("storage: guard usage: %w", err)
	}
	return u, nil
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
		u, err := usage(ctx, tx, *g, s.pg)
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
