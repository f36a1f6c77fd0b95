package webhook

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// warnings counts the warning records a logger got, and keeps their count attribute.
type warnings struct {
	mu     sync.Mutex
	counts []int64
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnings) WithGroup(string) slog.Handler            { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level != slog.LevelWarn {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "count" {
			w.counts = append(w.counts, a.Value.Int64())
		}
		return true
	})
	return nil
}

func (w *warnings) got() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int64(nil), w.counts...)
}

// A burst of refusals is one warning at once and one summing up the rest
// once the window has passed; answers other than a refusal go through
// untouched, and a refusal beyond the limit is a 429.
func TestAuthLimitSummarizesRefusals(t *testing.T) {
	log := &warnings{}
	l := NewAuthLimit(AuthLimitOptions{PerMinute: 5, SummaryEvery: 100 * time.Millisecond,
		SignatureHeaders: []string{"X-Sig"}, Logger: slog.New(log)})
	defer l.Close()
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Sig") != "good" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"bad signature"}`))
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	send := func(sig string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader("x"))
		req.RemoteAddr = "192.0.2.7:1234"
		if sig != "" {
			req.Header.Set("X-Sig", sig)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	var codes []int
	for range 7 {
		codes = append(codes, send("bad").Code)
	}
	if want := []int{401, 401, 401, 401, 401, 429, 429}; !equalInts(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	if rec := send("bad"); !strings.Contains(rec.Body.String(), "too many") || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %s", rec.Code, rec.Body)
	}
	if rec := send(""); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("unsigned over the limit: %d", rec.Code)
	}
	if rec := send("good"); rec.Code != http.StatusOK || rec.Body.String() != "ok" {
		t.Fatalf("a good signature from a limited address: %d %s", rec.Code, rec.Body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(log.got()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := log.got(); len(got) != 2 || got[0] != 1 || got[1] != 8 {
		t.Fatalf("warnings with counts %v; want [1 8]: the first at once, the rest summed up", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
