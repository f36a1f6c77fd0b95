-- 0020_guard_counters: what the guardrails count (DESIGN §5, storage/guard.go)
-- is kept in counters instead of counted from the rows at each check, so that
-- a check costs the same with 10,000 rent jobs queued as with none. Triggers
-- keep the counters in the transaction that changes the rows they count,
-- whatever statement changes them (intake's multi-row INSERTs, checkpoints,
-- confirmations, the expiry sweep, order updates, a DELETE by hand), so the
-- counters are exact after every statement and roll back with it.
--
-- What is counted, as usageSQL counted it before:
--   in flight: a rent job queued or running (jobs_in_flight_idx's rows);
--   active:    an order creating, provisioning, running or cancelling;
--   covered:   an active order whose job (job_id) is in flight: the job
--              counts for it until the job ends.
-- guard_usage holds, per requester (team = 0) and for the team (team = 1,
-- requested_by ''), the in-flight rent jobs plus the active orders not
-- covered, and their USD per hour. guard_accepted holds, per requester and
-- minute of created_at (its first 16 characters, 'YYYY-MM-DDTHH:MM'), the
-- rent jobs accepted: neither awaiting confirmation nor cancelled.
--
-- Money is kept in integer nano-dollars (usd_nano): a sum of REALs kept by
-- adding and subtracting would drift, an integer sum does not. Each row's
-- share is its usd_per_hour × 1e9 rounded half away from zero, with IEEE
-- arithmetic and a CAST only (no round(), whose rounding could change with
-- SQLite), so that what a row added is what it takes away; the sum is that
-- of the rounded shares exactly, up to 9.2 billion USD per hour.
--
-- Two things would get past the triggers: a later migration that rebuilds
-- jobs or orders (CREATE, copy, DROP, RENAME) drops the triggers on it and
-- must create them again; and INSERT OR REPLACE deletes the row it
-- replaces without firing delete triggers (recursive_triggers is off).
-- clorebot does neither.

CREATE TABLE guard_usage (
    team         INTEGER NOT NULL CHECK (team IN (0, 1)),
    requested_by TEXT    NOT NULL,
    active       INTEGER NOT NULL,
    usd_nano     INTEGER NOT NULL,
    PRIMARY KEY (team, requested_by)
) STRICT, WITHOUT ROWID;

CREATE TABLE guard_accepted (
    requested_by TEXT    NOT NULL,
    minute       TEXT    NOT NULL,
    jobs         INTEGER NOT NULL,
    PRIMARY KEY (requested_by, minute)
) STRICT, WITHOUT ROWID;

-- A change of one requester's share: inserting into the view adds it to the
-- requester's row and to the team's.
CREATE VIEW guard_usage_change (requested_by, active, usd_nano) AS SELECT '', 0, 0 WHERE 0;

CREATE TRIGGER guard_usage_change_apply INSTEAD OF INSERT ON guard_usage_change
BEGIN
    INSERT INTO guard_usage (team, requested_by, active, usd_nano)
        VALUES (0, new.requested_by, new.active, new.usd_nano), (1, '', new.active, new.usd_nano)
        ON CONFLICT DO UPDATE SET active = active + excluded.active, usd_nano = usd_nano + excluded.usd_nano;
END;

-- A rent job counts while in flight; going in or out of flight, it also
-- covers or uncovers the active orders linked to it. It counts in its
-- minute's guard_accepted row while accepted.

-- The trigger on intake's path, run for every accepted rent: one trigger
-- for both counters, and guard_usage written directly rather than through
-- the view, one nested trigger less. With foreign keys on, an order is
-- linked to a job only once the job exists: the look-up finds no order.
CREATE TRIGGER guard_jobs_insert AFTER INSERT ON jobs
    WHEN new.kind = 'rent' AND new.state NOT IN ('awaiting_confirmation', 'cancelled')
BEGIN
    INSERT INTO guard_usage (team, requested_by, active, usd_nano)
        SELECT 0, new.requested_by, 1, CAST(new.usd_per_hour * 1e9 + iif(new.usd_per_hour < 0, -0.5, 0.5) AS INTEGER)
        WHERE new.state IN ('queued', 'running')
        UNION ALL
        SELECT 1, '', 1, CAST(new.usd_per_hour * 1e9 + iif(new.usd_per_hour < 0, -0.5, 0.5) AS INTEGER)
        WHERE new.state IN ('queued', 'running')
        ON CONFLICT DO UPDATE SET active = active + excluded.active, usd_nano = usd_nano + excluded.usd_nano;
    INSERT INTO guard_usage_change
        SELECT requested_by, -1, -CAST(usd_per_hour * 1e9 + iif(usd_per_hour < 0, -0.5, 0.5) AS INTEGER)
        FROM orders WHERE job_id = new.id AND state IN ('creating', 'provisioning', 'running', 'cancelling')
        AND new.state IN ('queued', 'running');
    INSERT INTO guard_accepted VALUES (new.requested_by, substr(new.created_at, 1, 16), 1)
        ON CONFLICT DO UPDATE SET jobs = jobs + 1;
END;

CREATE TRIGGER guard_jobs_update AFTER UPDATE OF id, kind, state, requested_by, usd_per_hour ON jobs
    WHEN (old.kind = 'rent' AND old.state IN ('queued', 'running')) <> (new.kind = 'rent' AND new.state IN ('queued', 'running'))
        OR (new.kind = 'rent' AND new.state IN ('queued', 'running') AND (old.id IS NOT new.id
            OR old.requested_by IS NOT new.requested_by OR old.usd_per_hour IS NOT new.usd_per_hour))
BEGIN
    INSERT INTO guard_usage_change
        SELECT old.requested_by, -1, -CAST(old.usd_per_hour * 1e9 + iif(old.usd_per_hour < 0, -0.5, 0.5) AS INTEGER)
        WHERE old.kind = 'rent' AND old.state IN ('queued', 'running')
        UNION ALL
        SELECT new.requested_by, 1, CAST(new.usd_per_hour * 1e9 + iif(new.usd_per_hour < 0, -0.5, 0.5) AS INTEGER)
        WHERE new.kind = 'rent' AND new.state IN ('queued', 'running');
    INSERT INTO guard_usage_change
        SELECT requested_by, 1, CAST(usd_per_hour * 1e9 + iif(usd_per_hour < 0, -0.5, 0.5) AS INTEGER)
        FROM orders WHERE job_id = old.id AND state IN ('creating', 'provisioning', 'running', 'cancelling')
        AND old.kind = 'rent' AND old.state IN ('queued', 'running');
    INSERT INTO guard_usage_change
        SELECT requested_by, -1, -CAST(usd_per_hour * 1e9 + iif(usd_per_hour < 0, -0.5, 0.5) AS INTEGER)
        FROM orders WHERE job_id = new.id AND state IN ('creating', 'provisioning', 'running', 'cancelling')
        AND new.kind = 'rent' AND new.state IN ('queued', 'running');
END;

-- BEFORE: the foreign key sets the orders' job_id to NULL after the job's
-- row is gone, and their update trigger then no longer sees that the job
-- covered them; this trigger uncovers them first.
CREATE TRIGGER guard_jobs_delete BEFORE DELETE ON jobs
    WHEN old.kind = 'rent' AND old.state IN ('queued', 'running')
BEGIN
    INSERT INTO guard_usage_change VALUES (old.requested_by, -1,
        -CAST(old.usd_per_hour * 1e9 + iif(old.usd_per_hour < 0, -0.5, 0.5) AS INTEGER));
    INSERT INTO guard_usage_change
        SELECT requested_by, 1, CAST(usd_per_hour * 1e9 + iif(usd_per_hour < 0, -0.5, 0.5) AS INTEGER)
        FROM orders WHERE job_id = old.id AND state IN ('creating', 'provisioning', 'running', 'cancelling');
END;

CREATE TRIGGER guard_accepted_update AFTER UPDATE OF kind, state, requested_by, created_at ON jobs
    WHEN (old.kind = 'rent' AND old.state NOT IN ('awaiting_confirmation', 'cancelled'))
            <> (new.kind = 'rent' AND new.state NOT IN ('awaiting_confirmation', 'cancelled'))
        OR (new.kind = 'rent' AND new.state NOT IN ('awaiting_confirmation', 'cancelled')
            AND (old.requested_by IS NOT new.requested_by OR substr(old.created_at, 1, 16) IS NOT substr(new.created_at, 1, 16)))
BEGIN
    UPDATE guard_accepted SET jobs = jobs - 1
        WHERE requested_by = old.requested_by AND minute = substr(old.created_at, 1, 16)
        AND old.kind = 'rent' AND old.state NOT IN ('awaiting_confirmation', 'cancelled');
    INSERT INTO guard_accepted
        SELECT new.requested_by, substr(new.created_at, 1, 16), 1
        WHERE new.kind = 'rent' AND new.state NOT IN ('awaiting_confirmation', 'cancelled')
        ON CONFLICT DO UPDATE SET jobs = jobs + 1;
END;

CREATE TRIGGER guard_accepted_delete AFTER DELETE ON jobs
    WHEN old.kind = 'rent' AND old.state NOT IN ('awaiting_confirmation', 'cancelled')
BEGIN
    UPDATE guard_accepted SET jobs = jobs - 1
        WHERE requested_by = old.requested_by AND minute = substr(old.created_at, 1, 16);
END;

-- Active orders not covered by their job.

CREATE TRIGGER guard_orders_insert AFTER INSERT ON orders
    WHEN new.state IN ('creating', 'provisioning', 'running', 'cancelling')
        AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = new.job_id AND kind = 'rent' AND state IN ('queued', 'running'))
BEGIN
    INSERT INTO guard_usage_change VALUES (new.requested_by, 1,
        CAST(new.usd_per_hour * 1e9 + iif(new.usd_per_hour < 0, -0.5, 0.5) AS INTEGER));
END;

CREATE TRIGGER guard_orders_update AFTER UPDATE OF state, requested_by, usd_per_hour, job_id ON orders
    WHEN (old.state IN ('creating', 'provisioning', 'running', 'cancelling')) <> (new.state IN ('creating', 'provisioning', 'running', 'cancelling'))
        OR (new.state IN ('creating', 'provisioning', 'running', 'cancelling') AND (old.requested_by IS NOT new.requested_by
            OR old.usd_per_hour IS NOT new.usd_per_hour OR old.job_id IS NOT new.job_id))
BEGIN
    INSERT INTO guard_usage_change
        SELECT old.requested_by, -1, -CAST(old.usd_per_hour * 1e9 + iif(old.usd_per_hour < 0, -0.5, 0.5) AS INTEGER)
        WHERE old.state IN ('creating', 'provisioning', 'running', 'cancelling')
        AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = old.job_id AND kind = 'rent' AND state IN ('queued', 'running'))
        UNION ALL
        SELECT new.requested_by, 1, CAST(new.usd_per_hour * 1e9 + iif(new.usd_per_hour < 0, -0.5, 0.5) AS INTEGER)
        WHERE new.state IN ('creating', 'provisioning', 'running', 'cancelling')
        AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = new.job_id AND kind = 'rent' AND state IN ('queued', 'running'));
END;

CREATE TRIGGER guard_orders_delete AFTER DELETE ON orders
    WHEN old.state IN ('creating', 'provisioning', 'running', 'cancelling')
        AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = old.job_id AND kind = 'rent' AND state IN ('queued', 'running'))
BEGIN
    INSERT INTO guard_usage_change VALUES (old.requested_by, -1,
        -CAST(old.usd_per_hour * 1e9 + iif(old.usd_per_hour < 0, -0.5, 0.5) AS INTEGER));
END;

-- The counters of the rows already there.

INSERT INTO guard_usage (team, requested_by, active, usd_nano)
    WITH counted (requested_by, usd_nano) AS (
        SELECT requested_by, CAST(usd_per_hour * 1e9 + iif(usd_per_hour < 0, -0.5, 0.5) AS INTEGER)
        FROM jobs WHERE kind = 'rent' AND state IN ('queued', 'running')
        UNION ALL
        SELECT requested_by, CAST(usd_per_hour * 1e9 + iif(usd_per_hour < 0, -0.5, 0.5) AS INTEGER)
        FROM orders o WHERE state IN ('creating', 'provisioning', 'running', 'cancelling')
        AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = o.job_id AND j.kind = 'rent' AND j.state IN ('queued', 'running'))
    )
    SELECT 0, requested_by, count(*), sum(usd_nano) FROM counted GROUP BY requested_by
    UNION ALL
    SELECT 1, '', count(*), coalesce(sum(usd_nano), 0) FROM counted;

INSERT INTO guard_accepted (requested_by, minute, jobs)
    SELECT requested_by, substr(created_at, 1, 16), count(*) FROM jobs
    WHERE kind = 'rent' AND state NOT IN ('awaiting_confirmation', 'cancelled')
    GROUP BY requested_by, substr(created_at, 1, 16);
