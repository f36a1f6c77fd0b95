package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// liveHold is the condition of a held claim whose job still runs: queued or
// running, under a lease alive at ?now (a crashed process's holds lapse
// with its leases; a job resumed holds its server again).
const liveHold = `c.state = 'held' AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = c.job_id
	AND j.state IN ('queued', 'running') AND j.lease_until > ?)`

// claimTaken is how long a taken claim is kept: far longer than a
// marketplace snapshot lives.
const claimTaken = time.Hour

// holdServer holds c.ServerID for jobID in tx, unless another job's hold is
// alive or the server was taken after c.Since: then [commands.ErrHeld]. An
// older taken claim (or a dead hold) gives way: the caller chose the server
// from a snapshot that shows it free.
func holdServer(ctx context.Context, tx execQuerier, jobID string, c commands.ServerClaim, now time.Time) error {
	// Refused when another job holds the server, or took it (or found it
	// taken) after the snapshot the choice was made from: the write lock
	// (an immediate transaction) orders this check with every other hold.
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM server_claims c WHERE c.server_id = ? AND c.job_id <> ?
		AND (`+liveHold+` OR c.state = 'taken' AND c.at > ? OR c.state = 'unavailable' AND c.at > ?)`,
		c.ServerID, jobID, formatTime(now), formatTime(c.Since), formatTime(now.Add(-commands.UnavailableFor))).Scan(&n)
	if err != nil {
		return fmt.Errorf("hold server %d: %w", c.ServerID, err)
	}
	if n > 0 {
		return commands.ErrHeld
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM server_claims WHERE job_id = ? AND state = 'held' AND server_id <> ?`,
		jobID, c.ServerID); err != nil {
		return fmt.Errorf("hold server %d: %w", c.ServerID, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO server_claims (server_id, job_id, state, ours, currency, per_hour, at)
		VALUES (?, ?, 'held', 0, ?, ?, ?)
		ON CONFLICT (server_id) DO UPDATE SET job_id = excluded.job_id, state = 'held', ours = 0,
			currency = excluded.currency, per_hour = excluded.per_hour, at = excluded.at`,
		c.ServerID, jobID, c.Currency, c.PerHour, formatTime(now))
	if err != nil {
		return fmt.Errorf("hold server %d: %w", c.ServerID, err)
	}
	// Taken claims older than any snapshot still in use go.
	if _, err := tx.ExecContext(ctx, `DELETE FROM server_claims WHERE state <> 'held' AND at < ?`,
		formatTime(now.Add(-claimTaken))); err != nil {
		return fmt.Errorf("hold server %d: %w", c.ServerID, err)
	}
	return nil
}

// endHold ends jobID's hold in tx as took says: taken (ours or theirs) as of
// now, or gone.
func endHold(ctx context.Context, tx execQuerier, jobID string, took commands.Took, now time.Time) error {
	var err error
	switch took {
	case commands.TookNothing:
		_, err = tx.ExecContext(ctx, `DELETE FROM server_claims WHERE job_id = ? AND state = 'held'`, jobID)
	case commands.TookUnavailable:
		_, err = tx.ExecContext(ctx, `UPDATE server_claims SET state = 'unavailable', ours = 0, at = ?
			WHERE job_id = ? AND state = 'held'`, formatTime(now), jobID)
	default:
		_, err = tx.ExecContext(ctx, `UPDATE server_claims SET state = 'taken', ours = ?, at = ?
			WHERE job_id = ? AND state = 'held'`, boolInt(took == commands.TookOurs), formatTime(now), jobID)
	}
	if err != nil {
		return fmt.Errorf("end hold: %w", err)
	}
	return nil
}

// ServerClaims lists the claims a choice by jobID at now must respect: other
// jobs' live holds, servers taken after since, and servers refused as
// unavailable within [commands.UnavailableFor].
func (s *Store) ServerClaims(ctx context.Context, jobID string, since, now time.Time) ([]commands.ServerClaim, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT c.server_id, c.job_id, c.state, c.ours, c.currency, c.per_hour, c.at
		FROM server_claims c WHERE c.job_id <> ? AND (`+liveHold+` OR c.state = 'taken' AND c.at > ?
			OR c.state = 'unavailable' AND c.at > ?)`,
		jobID, formatTime(now), formatTime(since), formatTime(now.Add(-commands.UnavailableFor)))
	if err != nil {
		return nil, fmt.Errorf("storage: server claims: %w", err)
	}
	defer rows.Close()
	var out []commands.ServerClaim
	for rows.Next() {
		var c commands.ServerClaim
		var state, at string
		var ours int64
		if err := rows.Scan(&c.ServerID, &c.JobID, &state, &ours, &c.Currency, &c.PerHour, &at); err != nil {
			return nil, fmt.Errorf("storage: server claims: %w", err)
		}
		c.Taken, c.Ours, c.Unavailable = state != "held", ours == 1, state == "unavailable"
		if c.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("storage: server claims: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: server claims: %w", err)
	}
	return out, nil
}

// quoteKept is how long a rent's quote speaks for its server while its job
// is queued or running: by then it has held a server of its own, or failed.
const quoteKept = 15 * time.Minute

// spokenServers are those of candidates that a new rent's quote leaves out
// (see [commands.QuoteCheck]): quoted to a rent job still queued or running,
// held by a live job, taken since takenSince, or refused as unavailable
// lately.
func (s *Store) spokenServers(ctx context.Context, tx rowQuerier, candidates []int64, takenSince time.Time) (map[int64]bool, error) {
	if len(candidates) == 0 {
		return nil, nil
	}
	now := s.now()
	in := strings.Repeat("?,", len(candidates))
	in = in[:len(in)-1]
	args := make([]any, 0, 2*len(candidates)+4)
	for _, id := range candidates {
		args = append(args, id)
	}
	args = append(args, formatTime(now.Add(-quoteKept)))
	for _, id := range candidates {
		args = append(args, id)
	}
	args = append(args, formatTime(now), formatTime(takenSince), formatTime(now.Add(-commands.UnavailableFor)))
	var list sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT `+s.sq(`group_concat(server_id)`, `string_agg(server_id::text, ',')`)+` FROM (
		SELECT q.server_id FROM rent_quotes q JOIN jobs j ON j.id = q.job_id
			WHERE q.server_id IN (`+in+`) AND q.at > ? AND j.state IN ('queued', 'running')
		UNION SELECT c.server_id FROM server_claims c WHERE c.server_id IN (`+in+`)
			AND (`+liveHold+` OR c.state = 'taken' AND c.at > ? OR c.state = 'unavailable' AND c.at > ?)) AS spoken`,
		args...).Scan(&list)
	if err != nil {
		return nil, fmt.Errorf("spoken servers: %w", err)
	}
	spoken := map[int64]bool{}
	for _, f := range strings.Split(list.String, ",") {
		if f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("spoken servers: %q: %w", f, err)
		}
		spoken[id] = true
	}
	return spoken, nil
}

// SpokenServers implements [commands.ClaimStore]: spokenServers from what is
// committed, on a read connection.
func (s *Store) SpokenServers(ctx context.Context, candidates []int64, takenSince time.Time) (map[int64]bool, error) {
	spoken, err := s.spokenServers(ctx, s.read, candidates, takenSince)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return spoken, nil
}

// recordQuote notes in tx that jobID was quoted serverID.
func (s *Store) recordQuote(ctx context.Context, tx execQuerier, jobID string, serverID int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO rent_quotes (server_id, job_id, at) VALUES (?, ?, ?)
		ON CONFLICT (server_id) DO UPDATE SET job_id = excluded.job_id, at = excluded.at`,
		serverID, jobID, formatTime(s.now())); err != nil {
		return fmt.Errorf("record quote: %w", err)
	}
	return nil
}
