package discordbot

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// countingStub is a command layer that counts what it is handed.
type countingStub struct {
	stubService
	handled *atomic.Int32
}

func (s countingStub) Handle(context.Context, commands.Request) commands.Reply {
	s.handled.Add(1)
	return commands.Reply{Status: commands.StatusOK, Text: "queued", JobID: "job1", Visibility: commands.Public}
}

// Review R7 over HTTP interactions: a rent whose deferral comes after the
// endpoint gave its 3 s up (the handler's goroutine was held back: an
// overloaded process) was answered 503, so Discord showed "The application
// did not respond"; the rent is not handed to the command layer. The delay
// is the bot's clock sleeping in a synctest bubble, so no real time passes.
func TestHTTPRentAnsweredTooLateIsNotRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		var handled, reads atomic.Int32
		now := func() time.Time {
			// The endpoint reads the clock twice (signature age, replay
			// check); later reads are the handler's, before its deferral.
			if reads.Add(1) > 2 {
				time.Sleep(3 * time.Second)
			}
			return time.Now()
		}
		bot, err := New(Options{AppID: "100", PublicKey: hex.EncodeToString(pub), Service: countingStub{handled: &handled},
			Now: now, APIURL: "http://127.0.0.1:9/"})
		if err != nil {
			t.Fatal(err)
		}
		h, err := bot.Handler()
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"id":"late-http","application_id":"100","type":2,"token":"itok-late-http","version":1,` +
			`"guild_id":"G1","channel_id":"C1","member":{"user":{"id":"1001","username":"alice"},"roles":[]},` +
			`"data":{"id":"cmd-1","name":"clore","type":1,"options":[{"name":"rent","type":1,` +
			`"options":[{"name":"gpu","type":3,"value":"RTX 4090"}]}]}}`)
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		r := httptest.NewRequest(http.MethodPost, HTTPPath, bytes.NewReader(body))
		r.Header.Set("X-Signature-Timestamp", ts)
		r.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(priv, append([]byte(ts), body...))))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("answered %d %s, want 503 (not answered in time)", w.Code, w.Body)
		}
		if err := bot.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := handled.Load(); n != 0 {
			t.Errorf("the command layer got %d request(s) of a rent answered too late, want none", n)
		}
	})
}
