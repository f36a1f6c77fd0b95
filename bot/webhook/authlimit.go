package webhook

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// AuthLimitOptions configures an AuthLimit.
type AuthLimitOptions struct {
	// PerMinute is how many requests failing authentication one remote
	// address may send a minute (webhook.ip_rate_per_minute); 0: unlimited.
	PerMinute int
	// TrustedProxies name the client through X-Forwarded-For (http.trusted_proxies).
	TrustedProxies []netip.Prefix
	// SignatureHeaders are the headers that carry the routes' signatures: a
	// request without any is refused at once while its address is over the
	// limit; a signed one is always checked, so that unsigned floods from a
	// shared address cannot lock the platform's own requests out.
	SignatureHeaders []string
	// SummaryEvery spaces the warnings that sum refusals up (default 1 min).
	SummaryEvery time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
}

// AuthLimit limits, per remote address, the requests to routes that a
// front door authenticates itself (Slack HTTP mode, Discord HTTP
// interactions) and that fail authentication (401) or are too large
// (413), as the webhook routes' per-address limit does: over the limit
// such a request is answered 429 with Retry-After. A request that passes
// authentication never counts. Each refusal is logged at debug; a warning
// sums them up at most once per SummaryEvery (the first one at once), so
// that a flood does not flood the log.
type AuthLimit struct {
	o   AuthLimitOptions
	lim *limiter

	mu      sync.Mutex
	lastAt  time.Time // of the last warning
	pending int       // refusals since the last warning
	addrs   map[string]struct{}
	paths   map[string]struct{}
	timer   *time.Timer // the next summary, when refusals are pending
	closed  bool
}

// maxSummaryAddrs bounds the addresses a summary counts apart.
const maxSummaryAddrs = 1024

// NewAuthLimit returns an AuthLimit; Close stops its pending summary.
func NewAuthLimit(o AuthLimitOptions) *AuthLimit {
	if o.SummaryEvery <= 0 {
		o.SummaryEvery = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &AuthLimit{o: o, lim: newLimiter(o.PerMinute), addrs: map[string]struct{}{}, paths: map[string]struct{}{}}
}

// Wrap applies the limit to h.
func (l *AuthLimit) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := remoteAddress(r, l.o.TrustedProxies)
		if !l.signed(r.Header) {
			if blocked, wait := l.lim.blocked(addr, l.o.Now()); blocked {
				l.refuse(w, r, addr, http.StatusTooManyRequests, wait)
				return
			}
		}
		rec := &failureRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if !rec.failed {
			return
		}
		if ok, wait := l.lim.allow(addr, l.o.Now()); !ok {
			l.refuse(w, r, addr, http.StatusTooManyRequests, wait)
			return
		}
		l.note(r, addr, rec.status)
		rec.flushFailure()
	})
}

func (l *AuthLimit) signed(h http.Header) bool {
	for _, name := range l.o.SignatureHeaders {
		if h.Get(name) != "" {
			return true
		}
	}
	return false
}

// refuse answers 429 for an address over its limit.
func (l *AuthLimit) refuse(w http.ResponseWriter, r *http.Request, addr string, status int, wait time.Duration) {
	l.note(r, addr, status)
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
	writeJSON(w, status, map[string]string{"error": "too many requests failing authentication from address " + addr})
}

// note logs one refusal at debug and counts it for the summary.
func (l *AuthLimit) note(r *http.Request, addr string, status int) {
	l.o.Logger.LogAttrs(r.Context(), slog.LevelDebug, "chat request refused",
		slog.String("path", r.URL.Path), slog.String("address", addr), slog.Int("status", status))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending++
	if len(l.addrs) < maxSummaryAddrs {
		l.addrs[addr] = struct{}{}
	}
	l.paths[r.URL.Path] = struct{}{}
	now := l.o.Now()
	if wait := l.o.SummaryEvery - now.Sub(l.lastAt); wait > 0 {
		if l.timer == nil && !l.closed {
			l.timer = time.AfterFunc(wait, l.summarize)
		}
		return
	}
	l.summarizeLocked(now)
}

// summarize is the pending summary's timer.
func (l *AuthLimit) summarize() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	if l.pending > 0 && !l.closed {
		l.summarizeLocked(l.o.Now())
	}
}

// summarizeLocked warns of the refusals pending; l.mu is held.
func (l *AuthLimit) summarizeLocked(now time.Time) {
	paths := make([]string, 0, len(l.paths))
	for p := range l.paths {
		paths = append(paths, p)
	}
	l.o.Logger.LogAttrs(context.Background(), slog.LevelWarn, "chat requests refused: failed authentication or over the address limit",
		slog.Int("count", l.pending), slog.Int("addresses", len(l.addrs)), slog.Any("paths", paths),
		slog.Duration("since_last_summary", now.Sub(l.lastAt).Round(time.Second)))
	l.pending, l.lastAt = 0, now
	clear(l.addrs)
	clear(l.paths)
}

// Close stops the pending summary, if any.
func (l *AuthLimit) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
}

// failureRecorder holds back a refusal's answer (401, 413) so that the
// limit may turn it into a 429; any other answer goes through at once.
type failureRecorder struct {
	http.ResponseWriter
	status int
	failed bool
	wrote  bool
	body   bytes.Buffer
}

func (f *failureRecorder) WriteHeader(status int) {
	if f.wrote || f.failed {
		return
	}
	if status == http.StatusUnauthorized || status == http.StatusRequestEntityTooLarge {
		f.status, f.failed = status, true
		return
	}
	f.wrote = true
	f.ResponseWriter.WriteHeader(status)
}

func (f *failureRecorder) Write(p []byte) (int, error) {
	if !f.wrote && !f.failed {
		f.WriteHeader(http.StatusOK)
	}
	if f.failed {
		return f.body.Write(p)
	}
	return f.ResponseWriter.Write(p)
}

// Flush passes a flush through (the Discord endpoint flushes its answer).
func (f *failureRecorder) Flush() {
	if fl, ok := f.ResponseWriter.(http.Flusher); ok && !f.failed {
		fl.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (f *failureRecorder) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// flushFailure writes the refusal held back (its headers are set on the
// ResponseWriter already).
func (f *failureRecorder) flushFailure() {
	f.ResponseWriter.WriteHeader(f.status)
	_, _ = f.ResponseWriter.Write(f.body.Bytes())
}
