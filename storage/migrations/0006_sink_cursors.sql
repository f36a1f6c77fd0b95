-- 0006_sink_cursors: one cursor per outbox sink (DESIGN.md §2 step 5). Each
-- sink (outbound webhooks, Slack, Discord, incoming-webhook URLs) records
-- the last outbox event it handled; a sink seen for the first time starts
-- at the newest event (storage/sink.go), so it is not sent the history.

CREATE TABLE sink_cursors (
    name     TEXT    PRIMARY KEY CHECK (name <> ''),
    event_id INTEGER NOT NULL CHECK (event_id >= 0)
) STRICT;

-- The rent job that created a Clore order: order events go back to it.
CREATE INDEX jobs_rent_order_idx ON jobs (json_extract(checkpoint, '$.clore_order_id'))
    WHERE kind = 'rent';
