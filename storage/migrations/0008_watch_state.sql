-- 0008_watch_state: what the watch tick needs to evaluate watches and to
-- survive restarts (DESIGN.md §7, issue 11).
-- models: the canonical GPU models the watch's query resolved to, a JSON
--   array; '[]' for rows older than this migration, which the next tick
--   resolves against the marketplace snapshot and stores.
-- idempotency_key: the request that created the watch; one key, one watch.
-- last_triggered_at / last_trigger_price / triggers: the last trigger, for
--   hysteresis (re-arm after watch.cooldown) and `watch list`.
-- job_id: the rent job of the last trigger (awaiting confirmation for an
--   alert watch, queued for an auto-rent watch).

ALTER TABLE watches ADD COLUMN models TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(models));
ALTER TABLE watches ADD COLUMN idempotency_key TEXT;
ALTER TABLE watches ADD COLUMN last_triggered_at TEXT;
ALTER TABLE watches ADD COLUMN last_trigger_price REAL;
ALTER TABLE watches ADD COLUMN triggers INTEGER NOT NULL DEFAULT 0 CHECK (triggers >= 0);
ALTER TABLE watches ADD COLUMN job_id TEXT NOT NULL DEFAULT '';

CREATE UNIQUE INDEX watches_idempotency_key_idx ON watches (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The order end (expires_at) an order.expiring reminder was sent for: one
-- reminder per end, across restarts; an Extend moves the end and so allows
-- the next reminder.
ALTER TABLE orders ADD COLUMN reminded_for TEXT;
CREATE INDEX outbox_type_idx ON outbox (type, id);
