package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

func TestLimiterEvictsIdleBuckets(t *testing.T) {
	l := newLimiter(2)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		ok, wait := l.allow("a", t0)
		if want := i < 2; ok != want || (!ok && wait != 30*time.Second) {
			t.Fatalf("request %d: ok %v wait %v", i, ok, wait)
		}
	}
	l.allow("b", t0.Add(30*time.Second))
	if l.size() != 2 {
		t.Fatalf("%d buckets, want 2", l.size())
	}
	// a is idle for a full refill and goes; b is still refilling and stays.
	if ok, _ := l.allow("c", t0.Add(61*time.Second)); !ok || l.size() != 2 {
		t.Fatalf("after sweep: %d buckets, want b and c", l.size())
	}
	if newLimiter(0) != nil {
		t.Fatal("a zero rate must mean unlimited")
	}
	if ok, _ := (*limiter)(nil).allow("x", t0); !ok {
		t.Fatal("nil limiter refused")
	}
	if retryAfterSeconds(1500*time.Millisecond) != 2 || retryAfterSeconds(0) != 1 {
		t.Fatal("retryAfterSeconds rounds up, at least 1")
	}
}

func TestRemoteAddress(t *testing.T) {
	tests := []struct {
		remote, xff string
		trust       bool
		want        string
	}{
		{"192.0.2.1:1234", "", false, "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", false, "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.9]:1", "", false, "192.0.2.9"},
		{"192.0.2.1:1234", "203.0.113.5", false, "192.0.2.1"},
		{"192.0.2.1:1234", "198.51.100.1, 203.0.113.5", true, "203.0.113.5"},
		{"192.0.2.1:1234", "garbage", true, "192.0.2.1"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := remoteAddress(r, tt.trust); got != tt.want {
			t.Errorf("remoteAddress(%s, %q, %v) = %s, want %s", tt.remote, tt.xff, tt.trust, got, tt.want)
		}
	}
}

// fakeService answers every command with a queued job and counts them.
type fakeService struct{ handled int }

func (f *fakeService) Handle(context.Context, commands.Request) commands.Reply {
	f.handled++
	return commands.Reply{Status: commands.StatusQueued, JobID: "job1", Text: "queued"}
}
func (f *fakeService) Job(context.Context, string) (commands.Job, error) {
	return commands.Job{}, commands.ErrNotFound
}
func (f *fakeService) Market(context.Context) ([]commands.ModelSummary, error) {
	return nil, errors.New("down")
}
func (f *fakeService) RoleOf(string) commands.Role { return commands.RoleAdmin }
func (f *fakeService) ConfirmJob(context.Context, commands.Request, string) commands.Reply {
	f.handled++
	return commands.Reply{Status: commands.StatusQueued, JobID: "job1", Text: "confirmed"}
}

// failingDedup fails every claim.
type failingDedup struct{ *MemoryDedup }

func (failingDedup) ClaimWebhook(context.Context, string, string, []byte, time.Time, time.Time) (bool, []byte, int, []byte, error) {
	return false, nil, 0, nil, errors.New("disk on fire at /var/lib/secret-path")
}

func newTestAPI(t *testing.T, d DedupStore) (*API, *fakeService, *Server, []byte) {
	t.Helper()
	svc := &fakeService{}
	key, err := ConfiguredKey("k", "whsec_"+base64.StdEncoding.EncodeToString([]byte("secret-key-bytes")))
	if err != nil {
		t.Fatal(err)
	}
	a := NewAPI(APIOptions{Service: svc, Keys: []Key{key}, Dedup: d})
	s := New(Options{})
	a.Mount(s)
	return a, svc, s, key.Secret
}

func post(s *Server, secret []byte, id, path string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json; charset=UTF-8")
	for k, v := range SignedHeaders(secret, id, time.Now(), body) {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

func TestInFlightDuplicateWaitsThenTakesAStaleClaimOver(t *testing.T) {
	mem := NewMemoryDedup()
	_, svc, s, secret := newTestAPI(t, mem)
	body := []byte(`{"text":"rent 4090"}`)
	hash := requestHash("POST", "/webhook/command", body)
	// A delivery that died 3 minutes ago left its claim behind.
	if first, _, _, _, _ := mem.ClaimWebhook(context.Background(), "k", "msg_dead", hash, time.Now().Add(-3*time.Minute), time.Time{}); !first {
		t.Fatal("seed claim")
	}
	w := post(s, secret, "msg_dead", "/webhook/command", body)
	if w.Code != http.StatusAccepted || svc.handled != 1 {
		t.Fatalf("stale claim: %d %s, handled %d", w.Code, w.Body, svc.handled)
	}
	if w := post(s, secret, "msg_dead", "/webhook/command", body); w.Code != http.StatusAccepted || w.Header().Get("Idempotent-Replayed") != "true" || svc.handled != 1 {
		t.Fatalf("after takeover: %d %s", w.Code, w.Body)
	}
}

func TestInFlightDuplicateGivesUpWith409(t *testing.T) {
	mem := NewMemoryDedup()
	a, svc, s, secret := newTestAPI(t, mem)
	a.dedupWait = 300 * time.Millisecond
	body := []byte(`{"text":"rent 4090"}`)
	mem.ClaimWebhook(context.Background(), "k", "msg_busy", requestHash("POST", "/webhook/command", body), time.Now(), time.Time{})
	w := post(s, secret, "msg_busy", "/webhook/command", body)
	if w.Code != http.StatusConflict || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), "webhook-id: the first delivery") || svc.handled != 0 {
		t.Fatalf("in flight: %d %s", w.Code, w.Body)
	}
}

func TestInternalErrorsNameNoInternals(t *testing.T) {
	_, svc, s, secret := newTestAPI(t, failingDedup{NewMemoryDedup()})
	w := post(s, secret, "msg_1", "/webhook/command", []byte(`{"text":"help"}`))
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "internal error (ref ") ||
		strings.Contains(w.Body.String(), "secret-path") || svc.handled != 0 {
		t.Fatalf("claim failure: %d %s", w.Code, w.Body)
	}
	r := httptest.NewRequest("GET", "/webhook/marketplace", nil)
	for k, v := range SignedHeaders(secret, "msg_2", time.Now(), nil) {
		r.Header[k] = v
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, r)
	if rec.Code != http.StatusBadGateway || strings.Contains(rec.Body.String(), "down") {
		t.Fatalf("marketplace failure: %d %s", rec.Code, rec.Body)
	}
}
