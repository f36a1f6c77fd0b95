-- 0023_rent_quotes: a burst of rents spread over processes (issue 20).
--
-- The rent job last quoted each server at intake, written in the
-- transaction that stores the job. The next rent's quote, chosen in its
-- own intake transaction (the write lock orders them, in one process or
-- several on the database), leaves out the servers quoted to rent jobs
-- still queued or running, besides those held, taken or unavailable
-- (server_claims): the k-th rent of a burst is quoted the k-th offer
-- whichever process took it. One row per server: a quote is looked up by
-- the few servers a rent could be quoted, never scanned.
CREATE TABLE rent_quotes (
    server_id INTEGER PRIMARY KEY,
    job_id    TEXT    NOT NULL,
    at        TEXT    NOT NULL
) STRICT;
