-- 0004_deliveries: outbound webhook deliveries (DESIGN.md §5) and the
-- fan-out cursor over the outbox. Independent of 0003: it touches only the
-- outbox of 0002 and tables of its own.
-- Times are TEXT, UTC, fixed-width RFC 3339 with nanoseconds (see doc.go).
-- Secrets are never stored: secret_ref names where the dispatcher finds the
-- signing secret in the configuration ("subscriber:<url>" or "key:<name>").

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    url             TEXT    NOT NULL CHECK (url <> ''),
    secret_ref      TEXT    NOT NULL CHECK (secret_ref <> ''),
    -- webhook-id: chosen once, sent unchanged on every attempt.
    message_id      TEXT    NOT NULL UNIQUE CHECK (message_id <> ''),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    -- Attempts in the current schedule; a manual retry starts it afresh.
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- For a pending delivery the time it is due (or its claim expires).
    next_at         TEXT    NOT NULL,
    last_attempt_at TEXT,
    -- HTTP status of the last attempt; 0 when none came back.
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    delivered_at    TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    -- One delivery per event and receiver: fan-out may run twice safely.
    UNIQUE (event_id, url)
) STRICT;

CREATE INDEX deliveries_due_idx ON deliveries (state, next_at);

-- The last outbox id fanned out into deliveries: one row. It starts at the
-- newest event already in the outbox, so that enabling deliveries on an
-- existing database does not replay its history to new receivers.
CREATE TABLE delivery_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    event_id INTEGER NOT NULL CHECK (event_id >= 0)
) STRICT;

INSERT INTO delivery_cursor (id, event_id) SELECT 1, coalesce(max(id), 0) FROM outbox;
