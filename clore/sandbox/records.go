package sandbox

import (
	"sync"
	"time"
)

// maxRecords bounds the request log of a long-running Server.
const maxRecords = 10_000

// RequestRecord describes one request the Server answered (or that went
// away during injected latency).
type RequestRecord struct {
	At       time.Time // arrival time by Options.Now
	Endpoint string    // name below /v1/ ("create_order"), or the raw path outside /v1/
	KeyHash  string    // hex sha256 of the auth header; "" when absent
	Status   int       // HTTP status; 0 when the client went away first
	Code     int       // the body's code; -1 when the body is not JSON or none was sent
	Error    string    // the sandbox's own failure behind HTTP 500 {"code":1}; "" otherwise
}

// requestLog keeps the most recent records.
type requestLog struct {
	mu   sync.Mutex
	recs []RequestRecord
}

// newRequestLog returns an empty log.
func newRequestLog() *requestLog { return &requestLog{} }

// add appends a record, dropping the oldest half when full.
func (l *requestLog) add(r RequestRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recs) >= maxRecords {
		l.recs = append(l.recs[:0], l.recs[maxRecords/2:]...)
	}
	l.recs = append(l.recs, r)
}

// list returns a copy of the records.
func (l *requestLog) list() []RequestRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RequestRecord(nil), l.recs...)
}
