package webhook

import (
	"fmt"
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

// blocked reports, without taking a token, whether name's bucket is empty
// at now, and how long until a token is there.
func (l *limiter) blocked(name string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[name]
	if b == nil || b.lim.TokensAt(now) >= 1 {
		return false, 0
	}
	r := b.lim.ReserveN(now, 1)
	defer r.CancelAt(now)
	return true, r.DelayFrom(now)
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

// remoteAddress names the caller for the per-address limit and logs: the
// peer's IP address, or its /64 network for IPv6, where one host commonly
// holds a whole /64. When the peer is one of the trusted proxies, the client
// is the right-most X-Forwarded-For entry that is not itself a trusted
// proxy: each proxy appends the address it received the request from, and
// entries further left are only what the client claimed.
func remoteAddress(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if isTrusted(peer, trusted) {
		peer = forwardedClient(peer, r.Header.Values("X-Forwarded-For"), trusted)
	}
	return addressKey(peer)
}

// forwardedClient walks X-Forwarded-For from the right past trusted proxies.
// An entry that is not an address stops the walk: the last trusted hop
// before it is the best that is known.
func forwardedClient(peer netip.Addr, values []string, trusted []netip.Prefix) netip.Addr {
	client := peer
	for i := len(values) - 1; i >= 0; i-- {
		parts := strings.Split(values[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			addr, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client
			}
			client = addr
			if !isTrusted(addr, trusted) {
				return client
			}
		}
	}
	return client
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies parses http.trusted_proxies: CIDRs such as
// 10.0.0.0/8; a bare address counts as a network of one.
func ParseTrustedProxies(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			a, aerr := netip.ParseAddr(strings.TrimSpace(c))
			if aerr != nil {
				return nil, fmt.Errorf("webhook: trusted proxy %q: want a CIDR such as 10.0.0.0/8: %w", c, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func addressKey(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}
