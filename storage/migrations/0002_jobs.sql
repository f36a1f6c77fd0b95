-- 0002_jobs: durable jobs, the event outbox and price watches.
-- Times are TEXT, UTC, fixed-width RFC 3339 with nanoseconds (see doc.go).
-- JSON columns are TEXT checked with json_valid; NULL means "none".

CREATE TABLE jobs (
    id              TEXT    PRIMARY KEY CHECK (id <> ''),
    kind            TEXT    NOT NULL CHECK (kind <> ''),
    -- One key, one job: CreateJob inserts with ON CONFLICT DO NOTHING on it.
    idempotency_key TEXT    NOT NULL UNIQUE CHECK (idempotency_key <> ''),
    state           TEXT    NOT NULL CHECK (state <> ''),
    step            TEXT    NOT NULL DEFAULT '',
    requested_by    TEXT    NOT NULL DEFAULT '',
    platform        TEXT    NOT NULL DEFAULT '',
    channel         TEXT    NOT NULL DEFAULT '',
    reply_target    TEXT    NOT NULL DEFAULT '',
    reply_ref       TEXT    NOT NULL DEFAULT '',
    params          TEXT    CHECK (params IS NULL OR json_valid(params)),
    checkpoint      TEXT    CHECK (checkpoint IS NULL OR json_valid(checkpoint)),
    result          TEXT    CHECK (result IS NULL OR json_valid(result)),
    error           TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- '' when no worker holds the job; lease_until is NULL then.
    lease_owner     TEXT    NOT NULL DEFAULT '',
    lease_until     TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
) STRICT;

CREATE INDEX jobs_state_idx ON jobs (state);
CREATE INDEX jobs_requested_by_idx ON jobs (requested_by, created_at);

-- AUTOINCREMENT: an event id is never reused, even after the newest events
-- are deleted, so that a sink's "after id" cursor never skips one.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT    NOT NULL CHECK (type <> ''),
    job_id     TEXT    REFERENCES jobs (id) ON DELETE SET NULL,
    order_id   INTEGER, -- Clore order id, not orders.id
    data       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
    created_at TEXT    NOT NULL
) STRICT;

CREATE INDEX outbox_job_id_idx ON outbox (job_id);

CREATE TABLE watches (
    id              INTEGER PRIMARY KEY,
    owner           TEXT    NOT NULL DEFAULT '',
    platform        TEXT    NOT NULL DEFAULT '',
    channel         TEXT    NOT NULL DEFAULT '',
    reply_target    TEXT    NOT NULL DEFAULT '',
    gpu_model       TEXT    NOT NULL DEFAULT '',
    max_usd_per_gpu REAL    NOT NULL DEFAULT 0,
    count           INTEGER NOT NULL DEFAULT 0,
    auto_rent       INTEGER NOT NULL DEFAULT 0 CHECK (auto_rent IN (0, 1)),
    expires_at      TEXT,
    state           TEXT    NOT NULL CHECK (state <> ''),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
) STRICT;

CREATE INDEX watches_state_idx ON watches (state);
CREATE INDEX watches_owner_idx ON watches (owner, created_at);

-- The job that created an order, for reconciliation after a crash. Not part
-- of commands.Order; written by SaveJob.
ALTER TABLE orders ADD COLUMN job_id TEXT REFERENCES jobs (id) ON DELETE SET NULL;
CREATE INDEX orders_job_id_idx ON orders (job_id);
