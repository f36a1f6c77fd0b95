-- 0003_webhook: inbound webhook deliveries seen recently, for deduplication.
-- One row per (webhook key name, message id): the first delivery claims it
-- with status 0 and the hash of its method, path and body, then stores its
-- answer; duplicates get that answer. Rows older than the dedup window are
-- purged (see Store.PurgeWebhooks).

CREATE TABLE webhook_requests (
    key         TEXT    NOT NULL CHECK (key <> ''),
    id          TEXT    NOT NULL CHECK (id <> ''),
    body_hash   BLOB    NOT NULL,
    -- 0 while the first delivery is being processed, then its HTTP status.
    status      INTEGER NOT NULL DEFAULT 0 CHECK (status = 0 OR status BETWEEN 100 AND 599),
    answer      BLOB,
    created_at  TEXT    NOT NULL,
    claimed_at  TEXT    NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (key, id)
) STRICT, WITHOUT ROWID;

CREATE INDEX webhook_requests_created_at_idx ON webhook_requests (created_at);
