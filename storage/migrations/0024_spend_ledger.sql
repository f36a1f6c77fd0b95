-- 0024_spend_ledger: what orders spent, from Clore's own figures (my_orders'
-- `spend` and `creation_fee`, converted to USD at the order's own rate),
-- written by the lifecycle tick from the refresh it already makes
-- (storage/spend.go). Money is integer nano-dollars, as in guard_usage
-- (0020): sums kept by adding and subtracting do not drift.
--
-- spend_orders holds one row per Clore order ever seen: whom it is
-- attributed to (owner: the identity that rented it, '' for an order made
-- outside clorebot), the door the rent came from, and the cumulative spend
-- last recorded. Each tick adds only the difference to the day rows, so
-- recording the same figure twice (a restart, two processes) adds nothing;
-- settled_at is set once, when Clore shows the order ended, and a settled
-- order is never written again: its final spend counts exactly once.
CREATE TABLE spend_orders (
    clore_order_id INTEGER PRIMARY KEY,
    owner          TEXT    NOT NULL,
    door           TEXT    NOT NULL,
    gpu            TEXT    NOT NULL,
    gpu_count      INTEGER NOT NULL,
    created_at     TEXT    NOT NULL,
    spent_nano     INTEGER NOT NULL,
    sampled_at     TEXT    NOT NULL,
    settled_at     TEXT
) STRICT;

CREATE INDEX spend_orders_open_idx ON spend_orders (clore_order_id) WHERE settled_at IS NULL;

-- spend_order_days splits each order's spend over the UTC days it ran
-- (pro rata between two samples), the detail that moves with the order
-- when its owner becomes known later (an order my_orders showed before its
-- rent job recorded it).
CREATE TABLE spend_order_days (
    clore_order_id INTEGER NOT NULL REFERENCES spend_orders (clore_order_id),
    day            TEXT    NOT NULL, -- 'YYYY-MM-DD', UTC
    nano           INTEGER NOT NULL,
    PRIMARY KEY (clore_order_id, day)
) STRICT, WITHOUT ROWID;

-- spend_days and spend_months are the sums reports and budgets read, kept
-- in the transaction that writes spend_order_days: a month's report reads
-- days × owners × doors × GPU models rows, not one per order and day.
CREATE TABLE spend_days (
    day   TEXT    NOT NULL,
    owner TEXT    NOT NULL,
    door  TEXT    NOT NULL,
    gpu   TEXT    NOT NULL,
    nano  INTEGER NOT NULL,
    PRIMARY KEY (day, owner, door, gpu)
) STRICT, WITHOUT ROWID;

CREATE TABLE spend_months (
    month TEXT    NOT NULL, -- 'YYYY-MM', UTC
    owner TEXT    NOT NULL,
    nano  INTEGER NOT NULL,
    PRIMARY KEY (month, owner)
) STRICT, WITHOUT ROWID;

-- budget_alerts records the budget.warning / budget.exceeded events sent,
-- once per month, scope ('user' or 'team'), owner ('' for the team) and
-- level, in the transaction that appends the event.
CREATE TABLE budget_alerts (
    month TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('user', 'team')),
    owner TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('warning', 'exceeded')),
    at    TEXT NOT NULL,
    PRIMARY KEY (month, scope, owner, level)
) STRICT, WITHOUT ROWID;
