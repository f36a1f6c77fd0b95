-- 0027_leader_lease: the leader's heartbeat counter (storage/leader.go).
-- The process holding the leader's advisory lock adds one to beat at every
-- heartbeat and commits it on the lock's own session, before it counts the
-- heartbeat; released is set once a process that stops has ended its term.
-- A process that takes the lock reads the row after the lock is its own:
-- unless the previous holder released it, its term waits until heartbeat +
-- margin after it first saw the last beat, which is when the previous
-- holder's own belief in its term ran out. No clock is compared: only the
-- counter crosses between processes.
CREATE TABLE leader_lease (
    lock_key bigint  NOT NULL PRIMARY KEY,
    beat     bigint  NOT NULL CHECK (beat > 0),
    released boolean NOT NULL DEFAULT false
);
