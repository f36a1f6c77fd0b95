-- 0013_watch_changes: what lets the watch tick keep the live watches in
-- memory instead of reading every row each tick, and remember the last
-- price it saw.
--
-- watches.seq is a change number: every insert and update of a watch sets
-- it to one more than the largest, under the write lock, so it grows in
-- commit order; the tick reads only the rows past the number it has seen.
ALTER TABLE watches ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE watches SET seq = id;
CREATE INDEX watches_seq_idx ON watches (seq);

-- The last price the tick saw per canonical GPU model and GPU count (what a
-- watch compares): written only when it changes or the offer goes, so a
-- tick writes a few rows, never one per watch.
CREATE TABLE watch_prices (
    model       TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    usd_per_gpu REAL    NOT NULL,
    server_id   INTEGER NOT NULL,
    since       TEXT    NOT NULL,
    gone_at     TEXT,
    PRIMARY KEY (model, count)
) STRICT;

-- When the last tick saw the marketplace (one row).
CREATE TABLE watch_tick (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT    NOT NULL
) STRICT;
