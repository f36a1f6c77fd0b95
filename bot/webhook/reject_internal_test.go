package webhook

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clorebot/clorebot/internal/httpserver"
)

// countingDedup counts every call into the dedup store.
type countingDedup struct {
	*MemoryDedup
	calls atomic.Int64
}

func (c *countingDedup) ClaimWebhook(ctx context.Context, key, id string, h []byte, now, stale time.Time) (bool, []byte, int, []byte, error) {
	c.calls.Add(1)
	return c.MemoryDedup.ClaimWebhook(ctx, key, id, h, now, stale)
}

func (c *countingDedup) LookupWebhook(ctx context.Context, key, id string) (bool, []byte, int, []byte, error) {
	c.calls.Add(1)
	return c.MemoryDedup.LookupWebhook(ctx, key, id)
}

// A request refused at the signature never reaches the dedup store (the
// database, in serve) nor the command layer: rejecting forged traffic costs
// what verifying it costs, and takes no lock but its address's bucket.
func TestRejectedSignaturesTouchNoStorage(t *testing.T) {
	d := &countingDedup{MemoryDedup: NewMemoryDedup()}
	_, svc, s, secret := newTestAPI(t, d)
	for _, path := range []string{"/webhook/create-order", "/webhook/command", "/webhook/status"} {
		body := []byte(`{"gpu_type":"4090","text":"rent 4090"}`)
		r := post(s, secret, NewMessageID(), path, body)
		if r.Code != http.StatusBadRequest && r.Code != http.StatusAccepted && r.Code != http.StatusOK {
			t.Fatalf("control %s = %d %s", path, r.Code, r.Body)
		}
		before, handled := d.calls.Load(), svc.handled
		forged := forge(s, secret, path, body)
		if forged.Code != http.StatusUnauthorized {
			t.Fatalf("forged %s = %d %s", path, forged.Code, forged.Body)
		}
		if d.calls.Load() != before || svc.handled != handled {
			t.Errorf("a forged %s reached the dedup store (%d calls) or the command layer (%d)", path, d.calls.Load()-before, svc.handled-handled)
		}
	}
}

// forge posts body signed, then with the signature replaced by a wrong one.
func forge(s *httpserver.Server, secret []byte, path string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	for k, v := range SignedHeaders(secret, NewMessageID(), time.Now(), body) {
		r.Header[k] = v
	}
	r.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}
