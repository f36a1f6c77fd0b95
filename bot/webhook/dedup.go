package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DedupStore keeps the inbound webhook deliveries seen recently, so that a
// message delivered twice is processed once and its duplicates get the first
// answer. A record is keyed by the webhook key's name and the message id.
// storage.Store implements it (table webhook_requests); it uses plain types
// only, so that storage need not import this package.
type DedupStore interface {
	// ClaimWebhook records (key, id) with the request's hash the first time
	// and reports whether this call is the first. For a known (key, id) it
	// returns the stored hash and answer; status is 0 while the first
	// delivery is still being processed. A record still at status 0 that was
	// claimed before staleBefore belongs to a process that died: when its
	// hash equals bodyHash, this call takes it over and is the first.
	ClaimWebhook(ctx context.Context, key, id string, bodyHash []byte, now, staleBefore time.Time) (first bool, storedHash []byte, status int, answer []byte, err error)
	// LookupWebhook reads the record of (key, id) without claiming it:
	// found false for an unknown message, else its hash and answer (status 0
	// while it is processed).
	LookupWebhook(ctx context.Context, key, id string) (found bool, storedHash []byte, status int, answer []byte, err error)
	// FinishWebhook stores the answer (HTTP status, body) of a claimed record.
	FinishWebhook(ctx context.Context, key, id string, status int, answer []byte, now time.Time) error
	// ForgetWebhook deletes a claimed record that has no answer yet, so that a
	// retry is processed afresh (after an internal error).
	ForgetWebhook(ctx context.Context, key, id string) error
	// PurgeWebhooks deletes the records created before `before` and returns
	// how many it deleted.
	PurgeWebhooks(ctx context.Context, before time.Time) (int, error)
}

// Dedup timings. A duplicate of a delivery in flight polls for its answer;
// a claim older than staleClaim (well beyond processTimeout) is abandoned.
const (
	DefaultDedupWindow = 24 * time.Hour
	dedupPoll          = 50 * time.Millisecond
	dedupWait          = 10 * time.Second
	processTimeout     = 60 * time.Second
	finishTimeout      = 10 * time.Second
	staleClaim         = 2 * time.Minute
)

// requestHash identifies what a message id was used for: method, path and
// body. The same id with another hash is a different request.
func requestHash(method, path string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(method + " " + path + "\n"))
	h.Write(body)
	return h.Sum(nil)
}

// stored is a recorded answer.
type stored struct {
	status int
	body   []byte
}

// errIDReused and errStillProcessing are the two ways a duplicate is refused.
var (
	errIDReused        = errors.New("webhook: message id reused for another request")
	errStillProcessing = errors.New("webhook: first delivery still being processed")
)

// claim makes this delivery the one that processes (key, id), or returns
// the first delivery's answer, waiting for it while it is being processed.
// It fails with errIDReused when the id came with another request, and with
// errStillProcessing when the first delivery takes longer than a.dedupWait.
func (a *API) claim(ctx context.Context, key, id string, hash []byte) (first bool, answer stored, err error) {
	deadline := time.Now().Add(a.dedupWait)
	for {
		now := a.now()
		first, h, status, body, err := a.dedup.ClaimWebhook(ctx, key, id, hash, now, now.Add(-staleClaim))
		switch {
		case err != nil:
			return false, stored{}, fmt.Errorf("webhook: claim message %s: %w", id, err)
		case first:
			return true, stored{}, nil
		case !bytes.Equal(h, hash):
			return false, stored{}, errIDReused
		case status != 0:
			return false, stored{status: status, body: body}, nil
		case time.Now().After(deadline):
			return false, stored{}, errStillProcessing
		}
		t := time.NewTimer(dedupPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, stored{}, ctx.Err()
		case <-t.C:
		}
	}
}

// PurgeDedup deletes the dedup records older than the dedup window and
// returns how many it deleted. serve runs it on its scheduler.
func (a *API) PurgeDedup(ctx context.Context) (int, error) {
	n, err := a.dedup.PurgeWebhooks(ctx, a.now().Add(-a.o.DedupWindow))
	if err != nil {
		return 0, fmt.Errorf("webhook: purge dedup records: %w", err)
	}
	return n, nil
}

// MemoryDedup is a DedupStore in memory, for one process and tests: its
// records are lost at exit. serve uses the database instead.
type MemoryDedup struct {
	mu      sync.Mutex
	records map[[2]string]*memRecord
}

type memRecord struct {
	hash             []byte
	status           int
	answer           []byte
	created, claimed time.Time
}

// NewMemoryDedup returns an empty MemoryDedup.
func NewMemoryDedup() *MemoryDedup {
	return &MemoryDedup{records: map[[2]string]*memRecord{}}
}

// ClaimWebhook implements DedupStore.
func (m *MemoryDedup) ClaimWebhook(_ context.Context, key, id string, bodyHash []byte, now, staleBefore time.Time) (bool, []byte, int, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.records[[2]string{key, id}]
	if r == nil {
		m.records[[2]string{key, id}] = &memRecord{hash: bytes.Clone(bodyHash), created: now, claimed: now}
		return true, nil, 0, nil, nil
	}
	if r.status == 0 && r.claimed.Before(staleBefore) && bytes.Equal(r.hash, bodyHash) {
		r.claimed = now
		return true, nil, 0, nil, nil
	}
	return false, bytes.Clone(r.hash), r.status, bytes.Clone(r.answer), nil
}

// LookupWebhook implements DedupStore.
func (m *MemoryDedup) LookupWebhook(_ context.Context, key, id string) (bool, []byte, int, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.records[[2]string{key, id}]
	if r == nil {
		return false, nil, 0, nil, nil
	}
	return true, bytes.Clone(r.hash), r.status, bytes.Clone(r.answer), nil
}

// FinishWebhook implements DedupStore.
func (m *MemoryDedup) FinishWebhook(_ context.Context, key, id string, status int, answer []byte, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.records[[2]string{key, id}]; r != nil && r.status == 0 {
		r.status, r.answer = status, bytes.Clone(answer)
	}
	return nil
}

// ForgetWebhook implements DedupStore.
func (m *MemoryDedup) ForgetWebhook(_ context.Context, key, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.records[[2]string{key, id}]; r != nil && r.status == 0 {
		delete(m.records, [2]string{key, id})
	}
	return nil
}

// PurgeWebhooks implements DedupStore.
func (m *MemoryDedup) PurgeWebhooks(_ context.Context, before time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, r := range m.records {
		if r.created.Before(before) {
			delete(m.records, k)
			n++
		}
	}
	return n, nil
}
