package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/httpserver"
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
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.1", "::ffff:172.16.0.0/108"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, remote, xff string
		trust             []netip.Prefix
		want              string
	}{
		{"peer", "192.0.2.1:1234", "", nil, "192.0.2.1"},
		{"IPv6 peer is its /64", "[2001:db8:1:2:3:4:5:6]:443", "", nil, "2001:db8:1:2::/64"},
		{"mapped peer", "[::ffff:192.0.2.9]:1", "", nil, "192.0.2.9"},
		{"no trusted proxies: header ignored", "192.0.2.1:1234", "203.0.113.5", nil, "192.0.2.1"},
		{"untrusted peer: header ignored", "198.51.100.7:1", "203.0.113.5", trusted, "198.51.100.7"},
		{"trusted peer names the client", "10.1.2.3:1234", "198.51.100.1, 203.0.113.5", trusted, "203.0.113.5"},
		{"chain of trusted proxies is skipped", "10.1.2.3:1", "203.0.113.5, 10.9.9.9, 192.0.2.1", trusted, "203.0.113.5"},
		{"client's own claims left of it are ignored", "10.1.2.3:1", "127.0.0.1, 203.0.113.5", trusted, "203.0.113.5"},
		{"several header lines", "10.1.2.3:1", "203.0.113.5\n10.2.2.2", trusted, "203.0.113.5"},
		{"garbage stops at the last trusted hop", "10.1.2.3:1", "garbage", trusted, "10.1.2.3"},
		{"mapped CIDR matches IPv4", "172.16.5.5:1", "203.0.113.8", trusted, "203.0.113.8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for v := range strings.SplitSeq(tt.xff, "\n") {
				if v != "" {
					r.Header.Add("X-Forwarded-For", v)
				}
			}
			if got := remoteAddress(r, tt.trust); got != tt.want {
				t.Errorf("remoteAddress(%s, %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
	if _, err := ParseTrustedProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad CIDR parsed")
	}
}

// fakeService answers every command with a queued job and counts them.
type fakeService struct{ handled int }

func (f *fakeService) Handle(context.Context, commands.Request) commands.Reply {
	f.handled++
	return commands.Reply{Status: commands.StatusQueued, JobID: "job1", Text: "queued"}
}
func (f *fakeService) HandleOnce(ctx context.Context, req commands.Request, _ commands.DedupClaim) (commands.Reply, commands.DedupResult) {
	return f.Handle(ctx, req), commands.DedupResult{}
}
func (f *fakeService) Job(context.Context, string) (commands.Job, error) {
	return commands.Job{}, commands.ErrNotFound
}
func (f *fakeService) DescribeJob(_ context.Context, j commands.Job) (commands.JobInfo, error) {
	return commands.NewJobInfo(j, nil), nil
}
func (f *fakeService) Market(context.Context) ([]commands.ModelSummary, error) {
	return nil, errors.New("down")
}
func (f *fakeService) RoleOf(string) commands.Role { return commands.RoleAdmin }
func (f *fakeService) ConnectionDetails(context.Context, string, string) (*commands.PrivatePart, error) {
	return nil, nil
}
func (f *fakeService) ConfirmJob(context.Context, commands.Request, string) commands.Reply {
	f.handled++
	return commands.Reply{Status: commands.StatusQueued, JobID: "job1", Text: "confirmed"}
}

// failingDedup fails every claim.
type failingDedup struct{ *MemoryDedup }

func (failingDedup) ClaimWebhook(context.Context, string, string, []byte, time.Time, time.Time) (bool, []byte, int, []byte, error) {
	return false, nil, 0, nil, errors.New("disk on fire at /var/lib/secret-path")
}

func newTestAPI(t *testing.T, d DedupStore) (*API, *fakeService, *httpserver.Server, []byte) {
	t.Helper()
	svc := &fakeService{}
	key, err := ConfiguredKey("k", "whsec_"+base64.StdEncoding.EncodeToString([]byte("secret-key-bytes")))
	if err != nil {
		t.Fatal(err)
	}
	a := NewAPI(APIOptions{Service: svc, Keys: []Key{key}, Dedup: d})
	s := httpserver.New(httpserver.Options{})
	a.Mount(s)
	return a, svc, s, key.Secret
}

func post(s *httpserver.Server, secret []byte, id, path string, body []byte) *httptest.ResponseRecorder {
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
	t.Parallel()
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
	_, _, s, secret = newTestAPI(t, NewMemoryDedup())
	for k, v := range SignedHeaders(secret, "msg_2", time.Now(), nil) {
		r.Header[k] = v
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, r)
	if rec.Code != http.StatusBadGateway || strings.Contains(rec.Body.String(), "down") {
		t.Fatalf("marketplace failure: %d %s", rec.Code, rec.Body)
	}
}
