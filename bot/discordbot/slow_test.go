package discordbot

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	fd "github.com/clorebot/clorebot/bot/discordbot/discordtest"
	"github.com/clorebot/clorebot/commands"
)

// slowService is a command layer stuck on Clore until released.
type slowService struct {
	stubService
	release chan struct{}
}

func (s slowService) Handle(ctx context.Context, req commands.Request) commands.Reply {
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return commands.Reply{Status: commands.StatusOK, Title: "Clore marketplace", Text: "late but here",
		Visibility: commands.Ephemeral, Done: true}
}

// Whatever the command layer is doing, an interaction is answered within
// the ack budget: deferred, then edited when the reply comes. Over the
// gateway and over HTTP alike.
func TestSlowCommandIsDeferredThenEdited(t *testing.T) {
	t.Parallel()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token := "test." + hex.EncodeToString(b)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	fake := fd.New(t, fd.Options{Token: token})
	svc := slowService{release: make(chan struct{})}
	bot, err := New(Options{Token: token, AppID: fake.AppID(), APIURL: fake.URL, Service: svc,
		PublicKey: hex.EncodeToString(pub), AckBudget: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bot.Run(ctx); close(done) }()
	var once sync.Once
	release := func() { once.Do(func() { close(svc.release) }) }
	t.Cleanup(func() { release(); cancel(); <-done; _ = bot.Wait(context.Background()) })
	fake.WaitFor(t, 10*time.Second, "READY", func() bool { return fake.Connected(1) })

	who := fd.Who{UserID: "9"}
	if err := fake.Interaction(fake.Slash("g1", "gtok", who, "clore", fd.Sub("market"))); err != nil {
		t.Fatal(err)
	}
	fake.WaitFor(t, 3*time.Second, "the deferral", func() bool { _, ok := fake.Callback("g1"); return ok })
	c, _ := fake.Callback("g1")
	at, _ := fake.Dispatched("g1")
	var cb struct {
		Type int `json:"type"`
		Data struct {
			Flags int `json:"flags"`
		} `json:"data"`
	}
	_ = json.Unmarshal(c.Body, &cb)
	if cb.Type != 5 || cb.Data.Flags != 64 || c.At.Sub(at) > time.Second {
		t.Fatalf("slow market answered with %s after %v, want an ephemeral deferral within the budget", c.Body, c.At.Sub(at))
	}

	// Over HTTP: the deferral is the HTTP answer.
	h, _ := bot.Handler()
	i := fake.Slash("h1", "htok", who, "clore", fd.Sub("market"))
	body, _ := json.Marshal(i)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	r := httptest.NewRequest(http.MethodPost, HTTPPath, strings.NewReader(string(body)))
	r.Header.Set("X-Signature-Timestamp", ts)
	r.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(priv, append([]byte(ts), body...))))
	w := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"type":5`) || time.Since(start) > time.Second {
		t.Fatalf("slow market over HTTP: %d %s after %v, want a deferral", w.Code, w.Body, time.Since(start))
	}

	release()
	fake.WaitFor(t, 5*time.Second, "the edited response", func() bool {
		m, ok := fake.Original("gtok")
		return ok && strings.Contains(string(m.Body), "late but here")
	})
}
