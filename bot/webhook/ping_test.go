package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

func TestPingIsASignedTestPing(t *testing.T) {
	secret := []byte("ping-secret-bytes-0123456789")
	now := time.Now()
	var got struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := Verify(r.Header, body, []Key{{Name: "sub", Secret: secret}}, VerifyOptions{Now: func() time.Time { return now }}); err != nil {
			t.Errorf("signature: %v", err)
		}
		_ = json.Unmarshal(body, &got)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	res, err := Ping(context.Background(), nil, srv.URL, secret, PingData{Subscriber: commands.Nullable("ops")}, now)
	if err != nil || !res.OK() || res.Status != 204 || res.Latency <= 0 || !strings.HasPrefix(res.MessageID, "msg_") {
		t.Fatalf("Ping = %+v, %v", res, err)
	}
	if got.Type != EventTestPing || got.Data["subscriber"] != "ops" {
		t.Fatalf("receiver got %+v", got)
	}
}

func TestPingErrorsNeverQuoteTheURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hooks/T000/tok3n-in-path"
	srv.Close() // nothing listens any more
	_, err := Ping(context.Background(), nil, url, []byte("s"), PingData{}, time.Now())
	if err == nil || strings.Contains(err.Error(), "tok3n") {
		t.Fatalf("err = %v", err)
	}
	redirect := httptest.NewServer(http.RedirectHandler("http://example.invalid/", http.StatusFound))
	defer redirect.Close()
	if res, err := Ping(context.Background(), nil, redirect.URL, []byte("s"), PingData{}, time.Now()); err != nil || res.Status != http.StatusFound || res.OK() {
		t.Fatalf("redirect: %+v %v", res, err)
	}
}
