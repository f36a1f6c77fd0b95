-- 0015_rent_order_index_partial: the index from a Clore order id to its rent
-- job (0006) holds only the jobs that have an order: a queued job has none,
-- so the intake transaction no longer inserts a NULL entry into it (one
-- B-tree and one page less per accepted rent). The lookup
-- (json_extract(...) = ?) implies IS NOT NULL, so SQLite still uses it.
DROP INDEX IF EXISTS jobs_rent_order_idx;
CREATE INDEX jobs_rent_order_idx ON jobs (json_extract(checkpoint, '$.clore_order_id'))
    WHERE kind = 'rent' AND json_extract(checkpoint, '$.clore_order_id') IS NOT NULL;
