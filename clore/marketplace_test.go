package clore

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingObserver records what the client reports.
type countingObserver struct {
	mu        sync.Mutex
	malformed map[string]int
	requests  map[string]int
}

func (o *countingObserver) Request(endpoint, _ string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests[endpoint]++
}
func (o *countingObserver) LimiterWait(Priority, time.Duration) {}
func (o *countingObserver) MalformedEntries(endpoint string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.malformed[endpoint] += n
}

// syncBuffer is a log sink safe for the client's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A marketplace answer with malformed entries (a reliability sent as "high",
// a price sent as "ten", a null) decodes the other servers; the skipped ones
// are counted every time and logged once.
func TestMarketplaceSkipsMalformedServers(t *testing.T) {
	body, err := os.ReadFile("testdata/marketplace-malformed-entries.json")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := newFake(t, fakeAnswer{200, string(body)})
	obs := &countingObserver{malformed: map[string]int{}, requests: map[string]int{}}
	var logs syncBuffer
	c := New(Options{BaseURL: f.url, APIKey: "k", Interval: time.Millisecond, CreateInterval: time.Millisecond,
		FeeRefresh: -1, Observer: obs, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	for range 2 {
		servers, err := c.Marketplace(context.Background())
		if err != nil {
			t.Fatalf("one malformed server failed the list: %v", err)
		}
		var ids []int64
		for _, s := range servers {
			ids = append(ids, s.ID)
		}
		if !slices.Equal(ids, []int64{112658, 112368, 110776}) {
			t.Fatalf("servers = %v", ids)
		}
		offers := Offers(servers)
		if offers[0].Model != "RTX 5090" || offers[0].GPUCount != 2 || servers[0].Specs.PCIeRev != 4 || !offers[2].Rented {
			t.Errorf("offers = %+v", offers)
		}
	}
	if got := obs.malformed["marketplace"]; got != 6 {
		t.Errorf("malformed entries counted = %d, want 3 per fetch", got)
	}
	lines := strings.Count(logs.String(), "entry skipped")
	if lines != 3 {
		t.Errorf("%d log lines for 3 malformed entries over 2 fetches, want 3:\n%s", lines, logs.String())
	}
	for _, id := range []string{`"server_id":112567`, `"server_id":112331`, `"server_id":0`} {
		if !strings.Contains(logs.String(), id) {
			t.Errorf("log lacks %s", id)
		}
	}
}

// A well-formed answer takes the one-pass path and reports nothing.
func TestMarketplaceWellFormedReportsNothing(t *testing.T) {
	f, _ := newFake(t, fakeAnswer{200, `{"servers":[{"id":5},{"id":6}],"my_servers":[1],"code":0}`})
	obs := &countingObserver{malformed: map[string]int{}, requests: map[string]int{}}
	c := New(Options{BaseURL: f.url, APIKey: "k", Interval: time.Millisecond, FeeRefresh: -1, Observer: obs})
	servers, err := c.Marketplace(context.Background())
	if err != nil || len(servers) != 2 || len(obs.malformed) != 0 {
		t.Fatalf("servers %v, err %v, malformed %v", servers, err, obs.malformed)
	}
}

// An answer whose list itself is broken is an error, not an empty marketplace.
func TestMarketplaceBrokenListFails(t *testing.T) {
	for _, body := range []string{`{"servers":"none","code":0}`, `{"servers":{"id":1},"code":0}`} {
		_, c := newFake(t, fakeAnswer{200, body})
		if servers, err := c.Marketplace(context.Background()); err == nil {
			t.Errorf("%s: servers = %v, want an error", body, servers)
		}
	}
}
