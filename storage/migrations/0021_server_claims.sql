-- 0021_server_claims: many rents of one model at once (issue 20). A rent
-- job holds the server it chose until its create_order answers, so that
-- other jobs, in this process or another on the database, choose among the
-- servers nobody holds; a hold counts while its job is queued or running
-- under a live lease. Once create_order answered, a server it took (an
-- order, an uncertain answer) or found taken (server-already-rented) is
-- left out of every choice made from a marketplace snapshot older than
-- that answer; one Clore refused as unavailable (server-offline,
-- server-dont-exist, on GigaSPOT, our own), which the marketplace does not
-- show, is left out for 10 minutes whatever the snapshot. per_hour is what an order there spends an hour in currency:
-- wallet balances are seen less what jobs in flight have committed.
CREATE TABLE server_claims (
    server_id INTEGER PRIMARY KEY,
    job_id    TEXT    NOT NULL,
    state     TEXT    NOT NULL CHECK (state IN ('held', 'taken', 'unavailable')),
    ours      INTEGER NOT NULL DEFAULT 0 CHECK (ours IN (0, 1)),
    currency  TEXT    NOT NULL DEFAULT '',
    per_hour  REAL    NOT NULL DEFAULT 0,
    at        TEXT    NOT NULL
) STRICT;

CREATE INDEX server_claims_job_idx ON server_claims (job_id) WHERE state = 'held';
