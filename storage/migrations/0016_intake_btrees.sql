-- 0016_intake_btrees: fewer B-trees written by each accepted request. Every
-- B-tree an intake transaction touches is at least one more page in the WAL
-- at each commit, and the commit is most of what the one writer spends per
-- request.
--
-- The dedup records move from a WITHOUT ROWID table keyed by (key, id) to a
-- rowid table with a unique index on (key, id). Message ids are random, so
-- each record (hash, answer and times: about 400 bytes) went to a random
-- page of the table, splitting one every few inserts; rows now go to the end
-- of the table, and only the small (key, id) entry lands at random. The
-- index on created_at goes: rows are appended in the order they are
-- recorded, so the purge deletes the oldest rows in rowid order (see
-- Store.PurgeWebhooks).
--
-- audit_at_idx goes: audit rows are appended in the order of their times
-- (but for small reorderings), and the one reader by time, the audit
-- listing, reads back from the newest row (see Store.ListAudit).
--
-- jobs_state_idx goes: its one reader, the sweep for resumable jobs, reads
-- queued and running rent jobs through jobs_in_flight_idx (which every rent
-- job is written to anyway) and the other kinds through a partial index that
-- an accepted rent never touches.

CREATE TABLE webhook_requests_new (
    key         TEXT    NOT NULL CHECK (key <> ''),
    id          TEXT    NOT NULL CHECK (id <> ''),
    body_hash   BLOB    NOT NULL,
    -- 0 while the first delivery is being processed, then its HTTP status.
    status      INTEGER NOT NULL DEFAULT 0 CHECK (status = 0 OR status BETWEEN 100 AND 599),
    answer      BLOB,
    created_at  TEXT    NOT NULL,
    claimed_at  TEXT    NOT NULL,
    finished_at TEXT
) STRICT;

INSERT INTO webhook_requests_new (key, id, body_hash, status, answer, created_at, claimed_at, finished_at)
    SELECT key, id, body_hash, status, answer, created_at, claimed_at, finished_at
    FROM webhook_requests ORDER BY created_at;

DROP TABLE webhook_requests;
ALTER TABLE webhook_requests_new RENAME TO webhook_requests;

CREATE UNIQUE INDEX webhook_requests_key_id_idx ON webhook_requests (key, id);

DROP INDEX jobs_state_idx;
CREATE INDEX jobs_open_other_idx ON jobs (created_at)
    WHERE kind <> 'rent' AND state IN ('queued', 'running');

DROP INDEX audit_at_idx;
