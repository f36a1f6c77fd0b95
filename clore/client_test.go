package clore

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAnswer is one canned answer of the fake Clore.
type fakeAnswer struct {
	status int
	body   string
}

// fakeClore answers each request with the next canned answer and records requests.
type fakeClore struct {
	t       *testing.T
	answers []fakeAnswer
	calls   atomic.Int32
	last    atomic.Pointer[http.Request]
	bodies  chan []byte
	url     string // base URL, /v1 included
}

func newFake(t *testing.T, answers ...fakeAnswer) (*fakeClore, *Client) {
	t.Helper()
	f := &fakeClore{t: t, answers: answers, bodies: make(chan []byte, 16)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL + "/v1"
	return f, newTestClient(f.url)
}

// newTestClient has short intervals and backoff so tests do not sleep.
func newTestClient(base string) *Client {
	return New(Options{
		BaseURL: base, APIKey: "test-key", UserAgent: "clorebot-test/1",
		MaxRetries: 3, Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
		Interval: time.Millisecond, CreateInterval: time.Millisecond,
		FeeRefresh: -1, // fakes answer every endpoint alike; fee tests opt in
	})
}

func (f *fakeClore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(f.calls.Add(1)) - 1
	f.last.Store(r)
	b, _ := io.ReadAll(r.Body)
	select {
	case f.bodies <- b:
	default:
	}
	a := f.answers[min(n, len(f.answers)-1)]
	if strings.HasPrefix(a.body, "{") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

// The envelope and error shapes of clore-api.md and the captured fragments.
func TestClientErrorShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		answers   []fakeAnswer
		create    bool
		want      error
		calls     int32
		unknown   bool // OutcomeUnknown
		checkCode int
	}{
		{name: "ok", answers: []fakeAnswer{{200, `{"code":0}`}}, want: nil, calls: 1},
		{name: "already rented is HTTP 200 code 6", create: true,
			answers: []fakeAnswer{{200, `{"status":"error","error":"server-already-rented","code":6}`}},
			want:    ErrServerAlreadyRented, calls: 1, checkCode: 6},
		{name: "currency not allowed is HTTP 500 code 6", create: true,
			answers: []fakeAnswer{{500, `{"error":"currency-not-allowed","code":6}`}},
			want:    ErrCurrencyNotAllowed, calls: 1},
		{name: "not enough balance", create: true, answers: []fakeAnswer{{200, `{"error":"not_enough_balance","code":6}`}}, want: ErrNotEnoughBalance, calls: 1},
		{name: "too low price", create: true, answers: []fakeAnswer{{200, `{"error":"too_low_price","code":6}`}}, want: ErrTooLowPrice, calls: 1},
		{name: "server offline", create: true, answers: []fakeAnswer{{200, `{"error":"server-offline","code":6}`}}, want: ErrServerOffline, calls: 1},
		{name: "unknown code 6 string", create: true, answers: []fakeAnswer{{200, `{"error":"something-new","code":6}`}}, want: ErrOther, calls: 1},
		{name: "create_order 429 code 5 is not retried", create: true,
			answers: []fakeAnswer{{429, `{"code":5}`}, {200, `{"code":0}`}}, want: ErrRateLimited, calls: 1},
		{name: "create_order 500 code 1 is not retried and may have happened", create: true,
			answers: []fakeAnswer{{500, `{"code":1}`}, {200, `{"code":0}`}}, want: ErrDatabase, calls: 1, unknown: true},
		{name: "create_order proxy 502 page", create: true,
			answers: []fakeAnswer{{502, `<html>bad gateway</html>`}}, want: ErrTransport, calls: 1, unknown: true},
		{name: "safe call retries 429 code 5", answers: []fakeAnswer{{429, `{"code":5}`}, {429, `{"code":5}`}, {200, `{"code":0}`}}, want: nil, calls: 3},
		{name: "safe call retries 500 code 1", answers: []fakeAnswer{{500, `{"code":1}`}, {200, `{"code":0}`}}, want: nil, calls: 2},
		{name: "safe call retries 503 non-JSON", answers: []fakeAnswer{{503, `Service Unavailable`}, {200, `{"code":0}`}}, want: nil, calls: 2},
		{name: "safe call gives up after max retries", answers: []fakeAnswer{{429, `{"code":5}`}}, want: ErrRateLimited, calls: 4},
		{name: "401 code 3", answers: []fakeAnswer{{401, `{"code":3}`}}, want: ErrAuth, calls: 1},
		{name: "401 without body", answers: []fakeAnswer{{401, ``}}, want: ErrTransport, calls: 1},
		{name: "invalid input code 2", answers: []fakeAnswer{{200, `{"code":2,"error":"bad id"}`}}, want: ErrInvalidInput, calls: 1},
		{name: "invalid endpoint code 4", answers: []fakeAnswer{{404, `{"code":4}`}}, want: ErrInvalidEndpoint, calls: 1},
		{name: "cloudflare 403 page is transport, not retried", answers: []fakeAnswer{{403, `error code: 1010`}}, want: ErrTransport, calls: 1},
		{name: "truncated JSON", answers: []fakeAnswer{{200, `{"code":0,"orders":[{"id":1`}}, want: ErrTransport, calls: 4, unknown: true},
		{name: "JSON without code", answers: []fakeAnswer{{200, `{"orders":[]}`}}, want: ErrTransport, calls: 4, unknown: true},
		{name: "JSON array", answers: []fakeAnswer{{200, `[1,2]`}}, want: ErrTransport, calls: 4, unknown: true},
		{name: "create_order cut body may have happened", create: true, answers: []fakeAnswer{{200, `{"co`}}, want: ErrTransport, calls: 1, unknown: true},
		{name: "undocumented code", answers: []fakeAnswer{{200, `{"code":42}`}}, want: ErrUnknownCode, calls: 1},
	}
	for _, b := range cannedBackends {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				endpoint := "my_orders"
				if tt.create {
					endpoint = "create_order"
				}
				calls, c := b.start(t, endpoint, tt.answers)
				var err error
				if tt.create {
					err = c.CreateOrder(context.Background(), CreateOrderRequest{RentingServer: 1, Type: OrderOnDemand, Currency: CurrencyUSD, Image: "img"})
				} else {
					_, err = c.MyOrders(context.Background(), false)
				}
				if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if got := calls(); got != tt.calls {
					t.Errorf("requests = %d, want %d", got, tt.calls)
				}
				if got := OutcomeUnknown(err); got != tt.unknown {
					t.Errorf("OutcomeUnknown = %v, want %v", got, tt.unknown)
				}
				var ae *APIError
				if tt.checkCode != 0 && (!errors.As(err, &ae) || ae.Code != tt.checkCode) {
					t.Errorf("APIError code = %+v, want %d", ae, tt.checkCode)
				}
			})
		}
	}
}

func TestClientSpotPriceErrorsCarryDetails(t *testing.T) {
	_, c := newFake(t, fakeAnswer{200, `{"error":"exceeded_max_step","max_step":0.000001,"code":6}`})
	err := c.SetSpotPrice(context.Background(), 7, 1.5)
	var ae *APIError
	if !errors.Is(err, ErrExceededMaxStep) || !errors.As(err, &ae) || ae.MaxStep != 0.000001 {
		t.Fatalf("err = %v (%+v)", err, ae)
	}
	_, c = newFake(t, fakeAnswer{200, `{"error":"can_lower_every_600_seconds","time_to_lowering":312,"code":6}`})
	err = c.SetSpotPrice(context.Background(), 7, 1.5)
	if !errors.Is(err, ErrLowerTooSoon) || !errors.As(err, &ae) || ae.TimeToLowering != 312 {
		t.Fatalf("err = %v (%+v)", err, ae)
	}
}

func TestClientSendsAuthHeaderAndUserAgent(t *testing.T) {
	f, c := newFake(t, fakeAnswer{200, `{"orders":[],"code":0}`})
	if _, err := c.MyOrders(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	r := f.last.Load()
	if got := r.Header.Get("auth"); got != "test-key" {
		t.Errorf("auth header = %q", got)
	}
	if r.Header.Get("Authorization") != "" {
		t.Error("Authorization header sent; Clore wants `auth`")
	}
	if got := r.Header.Get("User-Agent"); got != "clorebot-test/1" {
		t.Errorf("User-Agent = %q", got)
	}
	if r.URL.Path != "/v1/my_orders" || r.URL.Query().Get("return_completed") != "true" {
		t.Errorf("request = %s", r.URL)
	}
}

// The body clorebot sends for the captured working create_order.
func TestCreateOrderBodyMatchesCapture(t *testing.T) {
	var capture struct {
		Body map[string]any `json:"body"`
	}
	readFixture(t, "gpuvietnam__clore-minimal-now.json", &capture)
	f, c := newFake(t, fakeAnswer{200, `{"code":0}`})
	err := c.CreateOrder(context.Background(), CreateOrderRequest{
		RentingServer: 100890, Type: OrderOnDemand, Currency: CurrencyUSD,
		Image: "dieuhaukieuhanh/gpuvietnam-comfyui:v1", Ports: map[string]string{"22": "tcp", "8080": "http"},
		SSHPassword: "GvTestPass123A1",
	})
	if err != nil {
		t.Fatal(err)
	}
	var sent map[string]any
	if err := json.Unmarshal(<-f.bodies, &sent); err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(sent)
	wantJSON, _ := json.Marshal(capture.Body)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("body\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if r := f.last.Load(); r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
	}
}

func TestClientHonoursCancellation(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); srv.Close() })
	c := newTestClient(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Wallets(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestErrorsNeverContainTheKey(t *testing.T) {
	for _, a := range []fakeAnswer{{401, `{"code":3}`}, {403, `error code: 1010`}, {500, `{"code":1}`}} {
		_, c := newFake(t, a)
		_, err := c.Wallets(context.Background())
		if err == nil || strings.Contains(err.Error(), "test-key") {
			t.Errorf("err = %v", err)
		}
	}
}

func readFixture(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "shared", "fixtures", "clore", name))
	if err != nil {
		t.Skipf("fixture %s not available: %v", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
}
