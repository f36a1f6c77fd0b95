-- 0007_guard_index: the in-flight rent jobs index of 0005 also covers the job
-- id, so that counting thousands of queued jobs for the guardrails (leaving
-- one job out) reads the index alone.

DROP INDEX jobs_in_flight_idx;
CREATE INDEX jobs_in_flight_idx ON jobs (requested_by, usd_per_hour, id)
    WHERE kind = 'rent' AND state IN ('queued', 'running');
