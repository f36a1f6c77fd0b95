package storage

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/clorebot/clorebot/commands"
)

var _ commands.PriceHistoryStore = (*Store)(nil)

// Price history resolutions (price_history.res) and how long each is kept
// before CompactPriceHistory rolls it into the next.
const (
	resTick = 0
	resHour = 1
	resDay  = 2

	tickRetention = 24 * time.Hour
	hourRetention = 30 * 24 * time.Hour
	dayRetention  = 400 * 24 * time.Hour
)

// resStep is the length of a resolution's bucket (0: one tick).
var resStep = map[int]time.Duration{resTick: 0, resHour: time.Hour, resDay: 24 * time.Hour}

// microUSD converts USD to the stored integer micro-USD.
func microUSD(v float64) int64 { return int64(math.Round(v * 1e6)) }

// RecordPrices implements commands.PriceHistoryStore: one row per model at
// the tick's time; a tick recorded already is left as it is.
func (s *Store) RecordPrices(ctx context.Context, at time.Time, prices []commands.PriceSample) error {
	for _, p := range prices {
		if p.Model == "" || !(p.MinUSD >= 0) || math.IsInf(p.MinUSD, 0) {
			return fmt.Errorf("storage: record prices: bad sample %+v", p)
		}
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: record prices: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO price_history (model_id, res, at, min_uusd, avg_uusd, samples)
		VALUES ((SELECT id FROM price_models WHERE name = ?), 0, ?, ?, ?, 1)
		ON CONFLICT (model_id, res, at) DO NOTHING`)
	if err != nil {
		return fmt.Errorf("storage: record prices: %w", err)
	}
	defer ins.Close()
	for _, p := range prices {
		if _, err := tx.ExecContext(ctx, `INSERT INTO price_models (name) VALUES (?) ON CONFLICT (name) DO NOTHING`, p.Model); err != nil {
			return fmt.Errorf("storage: record prices: %w", err)
		}
		if _, err := ins.ExecContext(ctx, p.Model, at.Unix(), microUSD(p.MinUSD), microUSD(p.MinUSD)); err != nil {
			return fmt.Errorf("storage: record prices: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: record prices: %w", err)
	}
	return nil
}

// PriceHistory implements commands.PriceHistoryStore.
func (s *Store) PriceHistory(ctx context.Context, model string, since time.Time) ([]commands.PriceSample, error) {
	// A coarse bucket that started before since but reaches into it counts.
	rows, err := s.read.QueryContext(ctx, `SELECT h.res, h.at, h.min_uusd, h.avg_uusd, h.samples
		FROM price_history h JOIN price_models m ON m.id = h.model_id
		WHERE m.name = ? AND h.res IN (0, 1, 2) AND h.at >= ? - CASE h.res WHEN 0 THEN 0 WHEN 1 THEN 3599 ELSE 86399 END
		ORDER BY h.at, h.res`, model, since.Unix())
	if err != nil {
		return nil, fmt.Errorf("storage: price history: %w", err)
	}
	defer rows.Close()
	var out []commands.PriceSample
	for rows.Next() {
		var res, at, minU, avgU, n int64
		if err := rows.Scan(&res, &at, &minU, &avgU, &n); err != nil {
			return nil, fmt.Errorf("storage: price history: %w", err)
		}
		out = append(out, commands.PriceSample{Model: model, At: time.Unix(at, 0).UTC(), Step: resStep[int(res)],
			MinUSD: float64(minU) / 1e6, AvgUSD: float64(avgU) / 1e6, Samples: int(n)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: price history: %w", err)
	}
	return out, nil
}

// rollUpSQL adds the rows of resolution ?1 older than ?3 into the buckets of
// resolution ?2, ?4 seconds long: min of the mins, mean weighted by
// samples, so that rolling up in several passes gives what one pass would.
const rollUpSQL = `INSERT INTO price_history (model_id, res, at, min_uusd, avg_uusd, samples)
	SELECT model_id, CAST(?2 AS BIGINT), at - at % CAST(?4 AS BIGINT), min(min_uusd),
		CAST(round(sum(avg_uusd * samples) * 1.0 / sum(samples)) AS BIGINT), sum(samples)
	FROM price_history WHERE res = ?1 AND at < ?3
	GROUP BY model_id, at - at % CAST(?4 AS BIGINT)
	ON CONFLICT (model_id, res, at) DO UPDATE SET
		min_uusd = CASE WHEN excluded.min_uusd < price_history.min_uusd THEN excluded.min_uusd ELSE price_history.min_uusd END,
		avg_uusd = CAST(round((price_history.avg_uusd * price_history.samples + excluded.avg_uusd * excluded.samples) * 1.0
			/ (price_history.samples + excluded.samples)) AS BIGINT),
		samples = price_history.samples + excluded.samples`

// CompactPriceHistory implements commands.PriceHistoryStore, in one
// transaction: ticks older than 24 h become hours, hours older than 30 days
// become days, days older than 400 days go.
func (s *Store) CompactPriceHistory(ctx context.Context, now time.Time) (int, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("storage: compact price history: %w", err)
	}
	defer tx.Rollback()
	removed := 0
	for _, step := range []struct {
		from, to  int
		retention time.Duration
	}{{resTick, resHour, tickRetention}, {resHour, resDay, hourRetention}} {
		cutoff := now.Add(-step.retention).Unix()
		if _, err := tx.ExecContext(ctx, rollUpSQL, step.from, step.to, cutoff, int64(resStep[step.to]/time.Second)); err != nil {
			return 0, fmt.Errorf("storage: compact price history: %w", err)
		}
		n, err := deleteRows(ctx, tx, `DELETE FROM price_history WHERE res = ? AND at < ?`, step.from, cutoff)
		if err != nil {
			return 0, err
		}
		removed += n
	}
	n, err := deleteRows(ctx, tx, `DELETE FROM price_history WHERE res = ? AND at < ?`, resDay, now.Add(-dayRetention).Unix())
	if err != nil {
		return 0, err
	}
	removed += n
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("storage: compact price history: %w", err)
	}
	return removed, nil
}

// deleteRows runs a DELETE and returns how many rows it removed.
func deleteRows(ctx context.Context, tx *sql.Tx, query string, args ...any) (int, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("storage: compact price history: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("storage: compact price history: %w", err)
	}
	return int(n), nil
}
