-- Orders of all API keys. Nothing secret is stored: the API key only as a
-- sha256 hash, and no ssh password, ssh key, jupyter token, env or command.
CREATE TABLE orders (
    id             INTEGER PRIMARY KEY,
    key_hash       TEXT    NOT NULL,
    server_id      INTEGER NOT NULL,
    spot           INTEGER NOT NULL,
    currency       TEXT    NOT NULL,
    image          TEXT    NOT NULL,
    ports          TEXT    NOT NULL, -- JSON object container port -> "tcp"/"http"
    price          REAL    NOT NULL, -- per day, in currency; current bid for spot
    price_since_ms INTEGER NOT NULL, -- when price became effective
    spend_before   REAL    NOT NULL, -- spend accrued before price_since_ms
    creation_fee   REAL    NOT NULL,
    created_ms     INTEGER NOT NULL,
    mrl_s          INTEGER NOT NULL,
    ends_ms        INTEGER NOT NULL, -- created_ms + mrl_s * 1000
    cancelled_ms   INTEGER,
    lowered_ms     INTEGER           -- last spot price lowering
) STRICT;

CREATE INDEX orders_by_key ON orders (key_hash, id);
CREATE INDEX orders_by_server ON orders (server_id, ends_ms);

-- Wallet balances net of creation fees; spend is derived from orders.
CREATE TABLE wallets (
    key_hash TEXT NOT NULL,
    currency TEXT NOT NULL,
    balance  REAL NOT NULL,
    PRIMARY KEY (key_hash, currency)
) STRICT;

-- Servers taken by "someone else" (RentByOther, lost races).
CREATE TABLE rented_by_other (
    server_id INTEGER PRIMARY KEY,
    until_ms  INTEGER -- NULL: for good
) STRICT;
