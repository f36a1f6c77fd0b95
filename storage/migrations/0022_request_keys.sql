-- 0022_request_keys: act once, act only for us (issue 21).
--
-- request_answers: the answer of a command that changes state without
-- becoming a job (extend, watch cancel, confirm), written under its
-- request's idempotency key in the transaction of the change, so that a
-- redelivery (Slack's retry of a slow ack under a new envelope id, a
-- click delivered twice) gets the first answer and changes nothing. A
-- record answers its own actor only. Purged after a day
-- (Store.PurgeRequests).
CREATE TABLE request_answers (
    key        TEXT NOT NULL CHECK (key <> ''),
    actor      TEXT NOT NULL,
    command    TEXT NOT NULL,
    answer     BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (key, actor)
) STRICT, WITHOUT ROWID;

CREATE INDEX request_answers_created_at_idx ON request_answers (created_at);

-- request_replays: signed chat requests seen over HTTP (a Slack request's
-- signature, a Discord interaction's id) until their signature's window
-- ends, so that a replay is refused by this process, another one on the
-- database, or this one after a restart (Store.ClaimReplay).
CREATE TABLE request_replays (
    key        TEXT NOT NULL PRIMARY KEY CHECK (key <> ''),
    expires_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX request_replays_expires_at_idx ON request_replays (expires_at);

-- Reply targets with an expiring part (commands.ExpiringTarget: a Slack
-- response_url, a Discord interaction token), so that the wipe of expired
-- parts (Store.WipeReplyTargets) reads those rows only. A wiped target
-- leaves the index.
CREATE INDEX jobs_reply_expiring_idx ON jobs (id) WHERE instr(reply_target, char(31)) > 0;
CREATE INDEX orders_reply_expiring_idx ON orders (id) WHERE instr(reply_target, char(31)) > 0;
CREATE INDEX watches_reply_expiring_idx ON watches (id) WHERE instr(reply_target, char(31)) > 0;

-- Targets stored before this migration in the old forms (a Slack target's
-- "r" member, a Discord target's trailing token) hold capabilities that
-- may still be live for minutes; they are dropped now rather than kept
-- for ever (a reply then goes through the bot token instead).
UPDATE jobs SET reply_target = json_remove(reply_target, '$.r')
    WHERE json_valid(reply_target) AND json_type(reply_target, '$.r') IS NOT NULL;
UPDATE orders SET reply_target = json_remove(reply_target, '$.r')
    WHERE json_valid(reply_target) AND json_type(reply_target, '$.r') IS NOT NULL;
UPDATE watches SET reply_target = json_remove(reply_target, '$.r')
    WHERE json_valid(reply_target) AND json_type(reply_target, '$.r') IS NOT NULL;
UPDATE jobs SET reply_target = substr(reply_target, 1, 11 + instr(substr(reply_target, 12), ':')
        + instr(substr(reply_target, 12 + instr(substr(reply_target, 12), ':')), ':'))
    WHERE reply_target LIKE 'discord:v1:%:%:_%' AND instr(reply_target, char(31)) = 0;
UPDATE orders SET reply_target = substr(reply_target, 1, 11 + instr(substr(reply_target, 12), ':')
        + instr(substr(reply_target, 12 + instr(substr(reply_target, 12), ':')), ':'))
    WHERE reply_target LIKE 'discord:v1:%:%:_%' AND instr(reply_target, char(31)) = 0;
UPDATE watches SET reply_target = substr(reply_target, 1, 11 + instr(substr(reply_target, 12), ':')
        + instr(substr(reply_target, 12 + instr(substr(reply_target, 12), ':')), ':'))
    WHERE reply_target LIKE 'discord:v1:%:%:_%' AND instr(reply_target, char(31)) = 0;
