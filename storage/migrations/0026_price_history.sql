-- 0026_price_history: the cheapest offer per GPU model over time (issue 24),
-- for `market --history` and the chart of a watch alert.
-- price_models: the GPU models seen, numbered so that each history row
--   carries a small integer instead of the name.
-- price_history: one row per model, resolution and time bucket.
--   res 0 is one watch tick (kept 24 h), 1 an hour (kept 30 days), 2 a day
--   (kept 400 days); CompactPriceHistory rolls rows past their age into the
--   next resolution (min of the mins, mean weighted by samples) and deletes
--   them, so a model holds at most about 1,440 + 720 + 400 rows.
--   at is the bucket's start in Unix seconds (UTC) and the prices are
--   micro-USD per GPU per hour, both integers: SQLite stores them in 3 to 6
--   bytes where TEXT times and REAL prices take 30 and 8.
CREATE TABLE price_models (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> '')
) STRICT;

CREATE TABLE price_history (
    model_id INTEGER NOT NULL REFERENCES price_models (id),
    res      INTEGER NOT NULL CHECK (res IN (0, 1, 2)),
    at       INTEGER NOT NULL,
    min_uusd INTEGER NOT NULL CHECK (min_uusd >= 0),
    avg_uusd INTEGER NOT NULL CHECK (avg_uusd >= 0),
    samples  INTEGER NOT NULL CHECK (samples > 0),
    PRIMARY KEY (model_id, res, at)
) STRICT, WITHOUT ROWID;
