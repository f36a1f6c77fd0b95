package discordbot_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/discordbot"
	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
)

// signer signs requests as Discord does: Ed25519 over timestamp + body.
type signer struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newSigner(t *testing.T) signer {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{pub, priv}
}

func (s signer) request(body []byte, at time.Time) *http.Request {
	ts := strconv.FormatInt(at.Unix(), 10)
	r := httptest.NewRequest(http.MethodPost, discordbot.HTTPPath, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Signature-Timestamp", ts)
	r.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(s.priv, append([]byte(ts), body...))))
	return r
}

func TestHTTPInteractions(t *testing.T) {
	t.Parallel()
	key := newSigner(t)
	h := newHarness(t, harnessOpts{bot: func(o *discordbot.Options) { o.PublicKey = hex.EncodeToString(key.pub) }})
	handler, err := h.bot.Handler()
	if err != nil || handler == nil {
		t.Fatalf("no handler: %v", err)
	}
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		return w
	}
	body := func(i fd.Interaction) []byte {
		b, _ := json.Marshal(i)
		return b
	}
	now := time.Now()
	ping := body(h.fake.Ping("int-p", "itok-p"))
	other := newSigner(t)

	t.Run("PING", func(t *testing.T) {
		w := serve(key.request(ping, now))
		if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"type":1}` {
			t.Fatalf("PING: %d %s, want 200 {\"type\":1}", w.Code, w.Body)
		}
	})
	refused := []struct {
		name string
		req  func() *http.Request
		code int
	}{
		{"wrong key", func() *http.Request { return other.request(ping, now) }, 401},
		{"changed body", func() *http.Request {
			r := key.request(ping, now) // signed over the original body
			r.Body = httptestBody(bytes.Replace(ping, []byte(`"type":1`), []byte(`"type":2`), 1))
			return r
		}, 401},
		{"no signature", func() *http.Request {
			r := key.request(ping, now)
			r.Header.Del("X-Signature-Ed25519")
			return r
		}, 401},
		{"stale timestamp", func() *http.Request { return key.request(ping, now.Add(-10*time.Minute)) }, 401},
		{"oversized", func() *http.Request { return key.request(bytes.Repeat([]byte(" "), 70<<10), now) }, 413},
		{"not an interaction", func() *http.Request { return key.request([]byte(`{"hello":1}`), now) }, 400},
		{"command without data", func() *http.Request {
			return key.request([]byte(`{"id":"x1","application_id":"100","type":2,"token":"t","version":1}`), now)
		}, 400},
		{"click without data", func() *http.Request {
			return key.request([]byte(`{"id":"x2","application_id":"100","type":3,"token":"t","version":1}`), now)
		}, 400},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if w := serve(tt.req()); w.Code != tt.code {
				t.Fatalf("%s: %d %s, want %d", tt.name, w.Code, w.Body, tt.code)
			}
		})
	}
	t.Run("help answered in the response", func(t *testing.T) {
		i := h.fake.Slash("int-h", "itok-h", alice, "clore", fd.Sub("help"))
		h.fake.Expect(i)
		w := serve(key.request(body(i), now))
		var resp struct {
			Type int `json:"type"`
			Data struct {
				Flags  int `json:"flags"`
				Embeds []struct {
					Title string `json:"title"`
				} `json:"embeds"`
			} `json:"data"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != 200 {
			t.Fatalf("help: %d %s", w.Code, w.Body)
		}
		if resp.Type != 4 || resp.Data.Flags&ephemeral == 0 || len(resp.Data.Embeds) != 1 || resp.Data.Embeds[0].Title != "clorebot help" {
			t.Errorf("help: %s, want an ephemeral type 4 with the help embed", w.Body)
		}
		if n := len(h.fake.Calls("/api/v9/interactions/int-h/")); n != 0 {
			t.Errorf("HTTP interaction also answered by REST callback (%d calls)", n)
		}
		// The same interaction again (a replay) is not answered twice.
		if w := serve(key.request(body(i), now)); w.Code != http.StatusConflict {
			t.Errorf("replay: %d, want 409", w.Code)
		}
	})
	t.Run("bad option answered in the response", func(t *testing.T) {
		i := h.fake.Slash("int-b", "itok-b", alice, "clore", fd.Sub("rent", fd.Str("gpu", "--spot")))
		w := serve(key.request(body(i), now))
		if w.Code != 200 || !strings.Contains(w.Body.String(), "starts with a letter or digit") || !strings.Contains(w.Body.String(), `"flags":64`) {
			t.Errorf("bad option: %d %s", w.Code, w.Body)
		}
	})
}

func httptestBody(b []byte) *readCloser { return &readCloser{bytes.NewReader(b)} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
