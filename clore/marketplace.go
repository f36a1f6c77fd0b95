package clore

import (
	"encoding/json"
	"errors"
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
func (r *marketplaceResponse) UnmarshalJSON(b []byte) error { return r.decodeAnswer(b) }

// decodeAnswer is UnmarshalJSON; decode calls it directly (unmarshalAnswer).
// Every path starts with a json.Unmarshal of all of b, which rejects a body
// that is not JSON.
func (r *marketplaceResponse) decodeAnswer(b []byte) error {
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
			r.skipped = append(r.skipped, newMalformedEntry(i, raw, err))
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
