package clore

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
)

// marketplaceResponse is the answer of GET /marketplace. It decodes server by
// server when the whole list does not fit Server: one malformed entry must
// not hide the other two thousand.
type marketplaceResponse struct {
	envelope
	Servers   []Server `json:"servers"`
	MyServers []int64  `json:"my_servers,omitempty"`
	// skipped are the entries left out, in list order.
	skipped []malformedEntry
}

// malformedEntry is a list entry that could not be decoded.
type malformedEntry struct {
	index int
	id    int64 // 0 when not even the id could be read
	err   error
}

// errNoServerID marks an entry without a usable id.
var errNoServerID = errors.New("no server id")

// strictMarketplace is the fast path: the whole answer in one pass.
type strictMarketplace struct {
	envelope
	Servers   []Server `json:"servers"`
	MyServers []int64  `json:"my_servers,omitempty"`
}

// UnmarshalJSON decodes the whole list at once and, only if that fails,
// entry by entry, keeping every server that decodes.
func (r *marketplaceResponse) UnmarshalJSON(b []byte) error {
	var s strictMarketplace
	if err := json.Unmarshal(b, &s); err == nil {
		r.envelope, r.MyServers = s.envelope, s.MyServers
		r.Servers, r.skipped = dropUnidentified(s.Servers)
		return nil
	}
	var l struct {
		envelope
		Servers   []json.RawMessage `json:"servers"`
		MyServers json.RawMessage   `json:"my_servers"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return err // not even a list of entries: the answer itself is broken
	}
	r.envelope = l.envelope
	_ = json.Unmarshal(l.MyServers, &r.MyServers) // optional and unused: a bad one is ignored
	r.Servers = make([]Server, 0, len(l.Servers))
	for i, raw := range l.Servers {
		var sv Server
		err := json.Unmarshal(raw, &sv)
		if err == nil && sv.ID <= 0 {
			err = errNoServerID
		}
		if err != nil {
			var probe struct {
				ID FlexInt `json:"id"`
			}
			_ = json.Unmarshal(raw, &probe) // best effort, for the log line only
			r.skipped = append(r.skipped, malformedEntry{index: i, id: int64(probe.ID), err: err})
			continue
		}
		r.Servers = append(r.Servers, sv)
	}
	return nil
}

// dropUnidentified removes entries without an id (a null entry decodes to a
// zero Server): they cannot be rented or shown.
func dropUnidentified(servers []Server) ([]Server, []malformedEntry) {
	var skipped []malformedEntry
	kept := servers[:0]
	for i := range servers {
		if servers[i].ID <= 0 {
			skipped = append(skipped, malformedEntry{index: i, err: errNoServerID})
			continue
		}
		kept = append(kept, servers[i])
	}
	return kept, skipped
}

// maxLoggedMalformed bounds the memory of entries already logged.
const maxLoggedMalformed = 4096

// malformedLog remembers which malformed entries were logged, so that a
// server that stays broken is logged once, not at every refresh.
type malformedLog struct {
	mu     sync.Mutex
	logged map[int64]bool
}

// first reports whether the entry of server id has not been logged yet, and
// marks it logged.
func (m *malformedLog) first(id int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.logged == nil || len(m.logged) >= maxLoggedMalformed {
		m.logged = make(map[int64]bool)
	}
	if m.logged[id] {
		return false
	}
	m.logged[id] = true
	return true
}

// reportMalformed counts skipped entries and logs each new one once.
func (c *Client) reportMalformed(ctx context.Context, endpoint string, skipped []malformedEntry) {
	if c.obs != nil {
		c.obs.MalformedEntries(endpoint, len(skipped))
	}
	for _, e := range skipped {
		if !c.malformed.first(e.id) {
			continue
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "clore answer entry skipped: malformed",
			slog.String("endpoint", endpoint), slog.Int64("server_id", e.id),
			slog.Int("index", e.index), slog.Any("error", e.err))
	}
}
