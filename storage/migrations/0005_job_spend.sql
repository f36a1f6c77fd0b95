-- 0005_job_spend: what a queued or running rent job reserves against the
-- team's hourly spend (commands.Job.USDPerHour), and an index over the jobs
-- the guardrails count, so that counting stays cheap with thousands queued.

ALTER TABLE jobs ADD COLUMN usd_per_hour REAL NOT NULL DEFAULT 0;

CREATE INDEX jobs_in_flight_idx ON jobs (requested_by, usd_per_hour)
    WHERE kind = 'rent' AND state IN ('queued', 'running');
CREATE INDEX jobs_rent_created_idx ON jobs (requested_by, created_at)
    WHERE kind = 'rent';
