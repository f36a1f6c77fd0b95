package clore

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"sync"
)

// malformedEntry is a list entry that could not be decoded.
type malformedEntry struct {
	index int
	id    int64  // 0 when not even the id could be read
	sum   uint64 // FNV-1a of the raw entry: tells id-less entries apart in the log
	err   error
}

// newMalformedEntry describes entry i of a list, which failed with err. The
// id is read leniently, for the log line only.
func newMalformedEntry(i int, raw json.RawMessage, err error) malformedEntry {
	var probe struct {
		ID FlexInt `json:"id"`
	}
	_ = json.Unmarshal(raw, &probe) // best effort
	h := fnv.New64a()
	_, _ = h.Write(raw) // a hash.Hash never fails
	return malformedEntry{index: i, id: int64(probe.ID), sum: h.Sum64(), err: err}
}

// maxLoggedMalformed bounds the memory of entries already logged.
const maxLoggedMalformed = 4096

// malformedKey names a malformed entry across answers: by its id when it has
// one (its other fields may change from one answer to the next), else by its
// content.
type malformedKey struct {
	endpoint string
	id       int64
	sum      uint64
}

// malformedLog remembers which malformed entries were logged, so that an
// entry that stays broken is logged once, not at every refresh, and counts
// the entries left out since the client was made.
type malformedLog struct {
	mu      sync.Mutex
	logged  map[malformedKey]bool
	skipped map[string]int64 // by endpoint
}

// note counts the skipped entries of one answer and returns those not
// logged yet, marking them logged.
func (m *malformedLog) note(endpoint string, skipped []malformedEntry) []malformedEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.skipped == nil {
		m.skipped = make(map[string]int64)
	}
	m.skipped[endpoint] += int64(len(skipped))
	var fresh []malformedEntry
	for _, e := range skipped {
		if m.logged == nil || len(m.logged) >= maxLoggedMalformed {
			m.logged = make(map[malformedKey]bool)
		}
		k := malformedKey{endpoint: endpoint, id: e.id}
		if e.id == 0 {
			k.sum = e.sum
		}
		if !m.logged[k] {
			m.logged[k] = true
			fresh = append(fresh, e)
		}
	}
	return fresh
}

// SkippedEntries is the number of entries of endpoint's answers ("marketplace",
// "my_orders") that could not be decoded and were left out, since the
// client was made. Observer.MalformedEntries reports the same counts as they
// happen.
func (c *Client) SkippedEntries(endpoint string) int64 {
	c.malformed.mu.Lock()
	defer c.malformed.mu.Unlock()
	return c.malformed.skipped[endpoint]
}

// reportMalformed counts skipped entries and logs each new one once, by its
// id (under idAttr) and position: never its content, which may hold what
// the account entered (an image name, a command).
func (c *Client) reportMalformed(ctx context.Context, endpoint, idAttr string, skipped []malformedEntry) {
	if c.obs != nil {
		c.obs.MalformedEntries(endpoint, len(skipped))
	}
	for _, e := range c.malformed.note(endpoint, skipped) {
		c.log.LogAttrs(ctx, slog.LevelWarn, "clore answer entry skipped: malformed",
			slog.String("endpoint", endpoint), slog.Int64(idAttr, e.id),
			slog.Int("index", e.index), slog.Any("error", e.err))
	}
}
