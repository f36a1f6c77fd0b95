-- 0023_rent_quotes: a burst of rents spread over processes (issue 20).
--
-- The server a rent was quoted at intake, written in the transaction that
-- stores its job. The next rent's quote, chosen in its own intake
-- transaction (the write lock orders them, in one process or several on
-- the database), leaves out the servers quoted to rent jobs still queued or
-- running, besides those held, taken or unavailable (server_claims): the
-- k-th rent of a burst is quoted the k-th offer whichever process took it.
-- Rows older than an hour go with the next insert.
CREATE TABLE rent_quotes (
    job_id    TEXT    PRIMARY KEY,
    server_id INTEGER NOT NULL,
    at        TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX rent_quotes_at_idx ON rent_quotes (at);
