-- 0017_awaiting_index: the expiry of rents awaiting confirmation (the job
-- sweep's ExpireJobs, every 2 s, under the write lock) reads them through a
-- partial index of their own. It read jobs_state_idx, which 0016 dropped; a
-- queued rent, what an accepted request writes, is not in this index.
CREATE INDEX jobs_awaiting_idx ON jobs (created_at) WHERE state = 'awaiting_confirmation';
