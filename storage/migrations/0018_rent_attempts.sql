-- 0018_rent_attempts: every create_order a rent job sends is recorded
-- before it is sent and watched for 15 minutes (DESIGN §7): an uncertain
-- answer (code 1, a timeout, a crash mid-call) may still have made an order
-- that my_orders shows only later. settled marks an outright refusal, after
-- which no order of that attempt can appear.
CREATE TABLE rent_attempts (
    id          INTEGER PRIMARY KEY,
    job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    server_id   INTEGER NOT NULL,
    sent_at     TEXT    NOT NULL,
    watch_until TEXT    NOT NULL,
    settled     INTEGER NOT NULL DEFAULT 0 CHECK (settled IN (0, 1))
) STRICT;

CREATE INDEX rent_attempts_job_idx ON rent_attempts (job_id, server_id);
CREATE INDEX rent_attempts_open_idx ON rent_attempts (watch_until) WHERE settled = 0;

-- A rent awaits confirmation from its last write, not from its creation: a
-- fail-over to a dearer offer asks for a confirmation of its own.
DROP INDEX jobs_awaiting_idx;
CREATE INDEX jobs_awaiting_idx ON jobs (updated_at) WHERE state = 'awaiting_confirmation';
