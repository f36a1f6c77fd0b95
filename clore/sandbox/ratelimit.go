package sandbox

import (
	"sync"
	"time"
)

// rateLimiter enforces Clore's per-key limits: one request per MinInterval
// and one create_order per CreateInterval, measured between arrival times of
// accepted requests, without tolerance. Rejected requests do not move the
// window.
type rateLimiter struct {
	mu         sync.Mutex
	minGap     time.Duration // MinInterval
	createGap  time.Duration // CreateInterval
	last       map[string]time.Time
	lastCreate map[string]time.Time
}

// newRateLimiter builds a limiter.
func newRateLimiter(minInterval, createInterval time.Duration) *rateLimiter {
	return &rateLimiter{
		minGap:     minInterval,
		createGap:  createInterval,
		last:       make(map[string]time.Time),
		lastCreate: make(map[string]time.Time),
	}
}

// allow reports whether a request of key arriving at t is within the
// limits, and if so records it as accepted.
func (l *rateLimiter) allow(key string, create bool, t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.last[key]; ok && t.Sub(prev) < l.minGap {
		return false
	}
	if prev, ok := l.lastCreate[key]; create && ok && t.Sub(prev) < l.createGap {
		return false
	}
	l.last[key] = t
	if create {
		l.lastCreate[key] = t
	}
	return true
}
