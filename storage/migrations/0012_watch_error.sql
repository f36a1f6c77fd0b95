-- 0012_watch_error: why a watch ended other than by its owner or its
-- rent's success (commands.Watch.Error): an auto-rent that policy refused
-- when it triggered ends in state 'refused' with the reason here.

ALTER TABLE watches ADD COLUMN error TEXT NOT NULL DEFAULT '';
