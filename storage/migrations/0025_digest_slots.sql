-- 0025_digest_slots: the spend digest's schedule slots (report.schedule).
-- A slot is recorded before its digest is posted, so that it fires once per
-- slot whatever restarts and however many processes share the database; a
-- process that dies after recording and before posting leaves the slot
-- unposted, and the next run (here or elsewhere) posts it once its claim
-- lapsed.
CREATE TABLE digest_slots (
    slot          TEXT NOT NULL PRIMARY KEY, -- the scheduled time, UTC
    claimed_by    TEXT NOT NULL,
    claimed_until TEXT NOT NULL,
    posted_at     TEXT
) STRICT;

CREATE INDEX digest_slots_unposted_idx ON digest_slots (slot) WHERE posted_at IS NULL;
