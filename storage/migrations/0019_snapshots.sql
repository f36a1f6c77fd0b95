-- 0019_snapshots: what a restart answers from while its first refresh
-- loads (DESIGN.md §7, issue 19), and which `clorebot serve` processes are
-- alive on this database.
-- snapshots: the last marketplace ("market") and my_orders ("orders")
--   answers the command layer published, one row per kind. data is the
--   command layer's own encoding (compressed JSON), opaque to the store;
--   taken_at is when Clore gave the answer, so that its age is known after
--   a restart. A save never replaces a newer row (two processes on one file).
-- serve_processes: one row per running serve, its seen_at renewed every few
--   seconds and the row deleted at a clean stop; `clorebot exec` and
--   `clorebot doctor` read it to say whether anything enforces the end of a
--   rent. A row not renewed for long is a crashed process's.

CREATE TABLE snapshots (
    kind     TEXT PRIMARY KEY CHECK (kind <> ''),
    taken_at TEXT NOT NULL,
    data     BLOB NOT NULL
) STRICT;

CREATE TABLE serve_processes (
    id         TEXT    PRIMARY KEY CHECK (id <> ''),
    pid        INTEGER NOT NULL,
    host       TEXT    NOT NULL,
    started_at TEXT    NOT NULL,
    seen_at    TEXT    NOT NULL
) STRICT;
