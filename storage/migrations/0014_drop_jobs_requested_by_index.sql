-- 0014_drop_jobs_requested_by_index: no query reads jobs by requester and
-- creation time over every kind (the guardrails use jobs_in_flight_idx and
-- jobs_rent_created_idx, orders have their own index), and every intake
-- transaction paid for one more B-tree insert and one more page written
-- per commit.
DROP INDEX IF EXISTS jobs_requested_by_idx;
