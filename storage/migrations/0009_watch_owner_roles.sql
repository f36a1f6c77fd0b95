-- 0009_watch_owner_roles: the owner's platform roles when a watch was
-- created (e.g. "discord-role:<id>"), a JSON array: an auto-rent is checked
-- against them when it triggers, with no interaction to bring them.

ALTER TABLE watches ADD COLUMN owner_roles TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(owner_roles));
