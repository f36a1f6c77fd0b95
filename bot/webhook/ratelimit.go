package webhook

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxBuckets bounds a limiter's memory whatever the number of callers: when
// a sweep leaves more buckets than this, the limiter starts afresh, which at
// worst lets each caller a burst more through.
const maxBuckets = 100_000

// limiter is a set of token buckets, one per name (a key or an address):
// perMinute tokens a minute, bursts of up to perMinute. Buckets idle long
// enough to have refilled completely are dropped, as a fresh bucket is the
// same as a full one.
type limiter struct {
	perMinute int
	limit     rate.Limit
	idle      time.Duration // time for an empty bucket to refill

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// newLimiter returns a limiter of perMinute requests a minute per name, or
// nil (every request allowed) when perMinute is 0 or less.
func newLimiter(perMinute int) *limiter {
	if perMinute <= 0 {
		return nil
	}
	return &limiter{
		perMinute: perMinute,
		limit:     rate.Limit(float64(perMinute) / 60),
		idle:      time.Minute,
		buckets:   map[string]*bucket{},
	}
}

// allow takes a token from name's bucket at now. When the bucket is empty it
// takes nothing and says how long until a token is there.
func (l *limiter) allow(name string, now time.Time) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[name]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.perMinute)}
		l.buckets[name] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops the buckets idle for a full refill, at most once per idle
// period. l.mu is held.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.idle && len(l.buckets) < maxBuckets {
		return
	}
	l.lastSweep = now
	for name, b := range l.buckets {
		if now.Sub(b.seen) >= l.idle {
			delete(l.buckets, name)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}

// size is the number of buckets held, for tests.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// retryAfterSeconds is the Retry-After value for a wait: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// remoteAddress names the caller for the per-address limit: the peer's IP
// address, or its /64 network for IPv6, where one host commonly holds a
// whole /64. With trustProxy, the right-most valid address of
// X-Forwarded-For is used instead: the one the trusted proxy in front of
// clorebot appended (earlier entries are the caller's own claims).
func remoteAddress(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if addr, ok := forwardedFor(r.Header.Values("X-Forwarded-For")); ok {
			return addressKey(addr)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	return addressKey(addr)
}

func forwardedFor(values []string) (netip.Addr, bool) {
	for i := len(values) - 1; i >= 0; i-- {
		parts := strings.Split(values[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			if addr, err := netip.ParseAddr(strings.TrimSpace(parts[j])); err == nil {
				return addr, true
			}
		}
	}
	return netip.Addr{}, false
}

func addressKey(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}
