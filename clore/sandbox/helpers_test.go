package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "test-key-0123456789abcdef0123456"

// anyKey as Options.APIKey makes newSandbox accept any non-empty key.
const anyKey = "<any>"

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 7, 11, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sandbox is a Server under test with its HTTP front and clock.
type sandbox struct {
	srv   *Server
	ts    *httptest.Server
	clock *fakeClock
}

// newSandbox starts a Server with test defaults: fake clock, APIKey
// testKey, state in a temp dir. opts fields that are set win.
func newSandbox(t *testing.T, opts Options) *sandbox {
	t.Helper()
	clock := newFakeClock()
	if opts.StatePath == "" {
		opts.StatePath = filepath.Join(t.TempDir(), "sandbox.db")
	}
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.Servers == 0 {
		opts.Servers = 400 // the full 2,000 only where a test needs them
	}
	switch opts.APIKey {
	case "":
		opts.APIKey = testKey
	case anyKey:
		opts.APIKey = ""
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &sandbox{srv: srv, ts: ts, clock: clock}
}

// response is a decoded answer.
type response struct {
	status int
	ctype  string
	raw    []byte
	body   map[string]any // nil when not JSON
}

// code returns the body's code, or -1.
func (r response) code() int {
	if c, ok := r.body["code"].(float64); ok {
		return int(c)
	}
	return -1
}

// call sends a raw request; body may be nil, a string or any JSON value.
func (sb *sandbox) call(t *testing.T, method, path, key string, body any) response {
	t.Helper()
	r, err := send(sb.ts, method, path, key, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// send is call without a *testing.T, for goroutines.
func send(ts *httptest.Server, method, path, key string, body any) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		return response{}, err
	}
	if key != "" {
		req.Header.Set("auth", key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	r := response{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), raw: raw}
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		r.body = m
	}
	return r, nil
}

// get and post are call with the test key.
func (sb *sandbox) get(t *testing.T, path string) response {
	t.Helper()
	return sb.call(t, http.MethodGet, path, testKey, nil)
}

func (sb *sandbox) post(t *testing.T, path string, body any) response {
	t.Helper()
	return sb.call(t, http.MethodPost, path, testKey, body)
}

// marketServer is the subset of a marketplace server the tests read.
type marketServer struct {
	ID     int64 `json:"id"`
	Owner  int64 `json:"owner"`
	MRL    int64 `json:"mrl"`
	Rented bool  `json:"rented"`
	Price  struct {
		OnDemand map[string]float64 `json:"on_demand"`
		Spot     map[string]float64 `json:"spot"`
		USD      map[string]float64 `json:"usd"`
	} `json:"price"`
	Specs struct {
		GPU     string          `json:"gpu"`
		GPURAM  float64         `json:"gpuram"`
		PCIeRev json.RawMessage `json:"pcie_rev"`
		StockOC json.RawMessage `json:"stock_oc"`
		Net     struct {
			CC string `json:"cc"`
		} `json:"net"`
	} `json:"specs"`
	Reliability  float64  `json:"reliability"`
	AllowedCoins []string `json:"allowed_coins"`
	GPUArray     []string `json:"gpu_array"`
	CUDAVersion  string   `json:"cuda_version"`
}

// marketplace fetches and decodes the marketplace.
func (sb *sandbox) marketplace(t *testing.T) []marketServer {
	t.Helper()
	r := sb.get(t, "/v1/marketplace")
	if r.status != http.StatusOK || r.code() != 0 {
		t.Fatalf("marketplace: %d %.200s", r.status, r.raw)
	}
	var body struct {
		Servers []marketServer `json:"servers"`
	}
	if err := json.Unmarshal(r.raw, &body); err != nil {
		t.Fatal(err)
	}
	return body.Servers
}

// freeServer returns a free, online server that accepts currency and whose
// specs.gpu contains model ("" for any). It reads the Server's internals to
// avoid fetching the whole marketplace.
func (sb *sandbox) freeServer(t *testing.T, currency, model string) marketServer {
	t.Helper()
	now := sb.clock.Now()
	busy, err := sb.srv.store.busyServers(t.Context(), now.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	for _, sv := range sb.srv.market.servers {
		if !busy[sv.id] && !sb.srv.market.rentedByOthers(sv, now) && !sv.offline && sv.accepts(currency) &&
			strings.Contains(sv.hw.GPU, model) {
			return decodeServer(t, sv, now, false)
		}
	}
	t.Fatalf("no free server for %s %q", currency, model)
	return marketServer{}
}

// decodeServer renders one server the way the marketplace does and decodes it.
func decodeServer(t *testing.T, sv *server, now time.Time, rented bool) marketServer {
	t.Helper()
	b := append([]byte(nil), sv.head...)
	b = sv.appendPrice(b, now)
	b = append(b, fmt.Sprintf(`,"rented":%v`, rented)...)
	b = append(b, sv.tail...)
	var ms marketServer
	if err := json.Unmarshal(b, &ms); err != nil {
		t.Fatalf("server %d: %v: %s", sv.id, err, b)
	}
	return ms
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// orderBody returns a valid on-demand create_order body for server id.
func orderBody(id int64) map[string]any {
	return map[string]any{
		"renting_server": id,
		"type":           "on-demand",
		"currency":       currencyUSD,
		"image":          "cloreai/ubuntu22.04-cuda-12.4",
		"ports":          map[string]string{"22": "tcp", "8080": "http"},
		"ssh_password":   "GvTestPass123A1",
	}
}

// orders fetches my_orders.
func (sb *sandbox) orders(t *testing.T, completed bool) []map[string]any {
	t.Helper()
	path := "/v1/my_orders"
	if completed {
		path += "?return_completed=true"
	}
	r := sb.get(t, path)
	if r.status != http.StatusOK || r.code() != 0 {
		t.Fatalf("my_orders: %d %s", r.status, r.raw)
	}
	var body struct {
		Orders []map[string]any `json:"orders"`
	}
	if err := json.Unmarshal(r.raw, &body); err != nil {
		t.Fatal(err)
	}
	return body.Orders
}

// balance returns one wallet balance.
func (sb *sandbox) balance(t *testing.T, currency string) float64 {
	t.Helper()
	r := sb.get(t, "/v1/wallets")
	var body struct {
		Wallets []struct {
			Name    string  `json:"name"`
			Balance float64 `json:"balance"`
		} `json:"wallets"`
	}
	if err := json.Unmarshal(r.raw, &body); err != nil {
		t.Fatalf("wallets: %v: %s", err, r.raw)
	}
	for _, w := range body.Wallets {
		if w.Name == currency {
			return w.Balance
		}
	}
	t.Fatalf("no %s wallet in %s", currency, r.raw)
	return 0
}
