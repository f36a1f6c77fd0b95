package chat

import (
	"sync"
	"time"
)

// Seen remembers ids (Slack envelope ids, Discord interaction ids, request
// signatures) for a while, so that a front door recognises a redelivery
// and acts once. Ids expire in the order they were added, so each First is
// O(1) however many are remembered; beyond max ids the oldest are
// forgotten early. It is memory only: what must hold across a restart is
// made idempotent durably by the command layer (idempotency keys), or
// refused durably by Replays.
type Seen struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	at    map[string]time.Time
	order []seenID // oldest first
}

type seenID struct {
	id string
	at time.Time
}

// NewSeen returns a Seen that remembers an id for ttl, and at most max ids.
func NewSeen(ttl time.Duration, max int) *Seen {
	return &Seen{ttl: ttl, max: max, at: map[string]time.Time{}}
}

// First reports whether id is new (not seen within ttl of now) and
// remembers it; "" is always new.
func (s *Seen) First(id string, now time.Time) bool {
	if id == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	if _, ok := s.at[id]; ok {
		return false
	}
	s.at[id] = now
	s.order = append(s.order, seenID{id, now})
	return true
}

// Forget forgets id, so that it is new again.
func (s *Seen) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.at, id)
}

// expire forgets the ids older than ttl, and the oldest beyond max; called
// with s.mu held.
func (s *Seen) expire(now time.Time) {
	n := 0
	for n < len(s.order) && (now.Sub(s.order[n].at) >= s.ttl || len(s.order)-n >= s.max) {
		old := s.order[n]
		if at, ok := s.at[old.id]; ok && at.Equal(old.at) {
			delete(s.at, old.id)
		}
		n++
	}
	if n > 0 {
		s.order = s.order[n:]
	}
}

// Len is how many ids are remembered.
func (s *Seen) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.at)
}
