-- 0001_init: orders, audit and the shared Clore rate-limiter state.
-- Times are TEXT, UTC, fixed-width RFC 3339 with nanoseconds (see doc.go).
-- Tables are STRICT so that a wrong type is an error instead of a surprise;
-- later migrations add columns with ALTER TABLE ... ADD COLUMN.

CREATE TABLE orders (
    id             INTEGER PRIMARY KEY,
    clore_order_id INTEGER UNIQUE,
    server_id      INTEGER NOT NULL,
    gpu_model      TEXT    NOT NULL DEFAULT '',
    gpu_count      INTEGER NOT NULL DEFAULT 0,
    currency       TEXT    NOT NULL DEFAULT '',
    spot           INTEGER NOT NULL DEFAULT 0 CHECK (spot IN (0, 1)),
    price_per_day  REAL    NOT NULL DEFAULT 0,
    usd_per_hour   REAL    NOT NULL DEFAULT 0,
    image          TEXT    NOT NULL DEFAULT '',
    requested_by   TEXT    NOT NULL DEFAULT '',
    reply_target   TEXT    NOT NULL DEFAULT '',
    state          TEXT    NOT NULL CHECK (state <> ''),
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    expires_at     TEXT,
    error          TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX orders_state_idx ON orders (state);
CREATE INDEX orders_requested_by_idx ON orders (requested_by, created_at);
CREATE INDEX orders_server_id_idx ON orders (server_id, created_at);
CREATE INDEX orders_created_at_idx ON orders (created_at);

CREATE TABLE audit (
    id           INTEGER PRIMARY KEY,
    at           TEXT    NOT NULL,
    actor        TEXT    NOT NULL DEFAULT '',
    platform     TEXT    NOT NULL DEFAULT '',
    channel      TEXT    NOT NULL DEFAULT '',
    command      TEXT    NOT NULL DEFAULT '',
    outcome      TEXT    NOT NULL DEFAULT '',
    order_id     INTEGER,
    usd_per_hour REAL,
    detail       TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_at_idx ON audit (at);

-- key is a hash of the Clore API key, never the key; lane is e.g. "any" or
-- "create"; next_at is the earliest Unix nanosecond the lane may be used again.
CREATE TABLE clore_rate_slots (
    key     TEXT    NOT NULL,
    lane    TEXT    NOT NULL,
    next_at INTEGER NOT NULL,
    PRIMARY KEY (key, lane)
) STRICT, WITHOUT ROWID;
