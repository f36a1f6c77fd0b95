package sandbox

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultDriftPerHour is the drift rate recommended for demos
// (`serve --sandbox`). Options.DriftPerHour's zero value means static prices,
// so callers that want drift set it explicitly.
const DefaultDriftPerHour = 0.02

// maxBodyBytes bounds request bodies.
const maxBodyBytes = 1 << 20

// Options configures a Server. Zero values select the documented defaults.
type Options struct {
	// StatePath is the SQLite file holding orders, wallets and "rented by
	// someone else" overrides (required). Several Servers, in one or several
	// processes, may share it.
	StatePath string
	// APIKey is the expected value of the `auth` header; "" accepts any
	// non-empty key (each key then has its own orders and wallets).
	APIKey string
	// Seed selects the marketplace and the fault sequence; default 1.
	Seed int64
	// Servers is the number of marketplace servers; default 2000.
	Servers int
	// DriftPerHour bounds how fast prices move, relative per hour (0.05: up to
	// about 5% per hour). 0 means static prices; see DefaultDriftPerHour.
	DriftPerHour float64
	// ProvisionDelay is the time from create_order until the order is online;
	// default 20s, negative means online at once.
	ProvisionDelay time.Duration
	// RateLimit enforces MinInterval between requests and CreateInterval
	// between create_order calls per key, answering HTTP 429 {"code":5}.
	// There is no tolerance: a client that spaces its calls by exactly the
	// limit meets 429s from network jitter, so jitter bugs show in tests
	// (clorebot spaces 1.1 s and 5.5 s against Clore's 1 s and 5 s).
	RateLimit bool
	// MinInterval is the minimum spacing of requests per key; default 1s.
	MinInterval time.Duration
	// CreateInterval is the minimum spacing of create_order per key; default 5s.
	CreateInterval time.Duration
	// RaceRate is the probability that create_order on a free server loses a
	// race to someone else (server-already-rented).
	RaceRate float64
	// Faults are the initial fault-injection settings; see SetFaults.
	Faults Faults
	// Now is the clock; default time.Now.
	Now func() time.Time
	// PoHBalance is the CLORE every key holds in Proof of Holding, which
	// lowers the renter fees /renter_fees reports (full reduction at 2,000,000).
	PoHBalance float64
	// InitialBalances are a key's wallet balances on first use, by currency.
	// nil selects USD-Blockchain 500, CLORE-Blockchain 250000, bitcoin 0.005;
	// a non-nil map replaces them all (missing currencies start at 0).
	InitialBalances map[string]float64
}

// withDefaults validates o and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.StatePath == "":
		return o, errors.New("sandbox: options: StatePath is required")
	case o.Servers < 0 || o.DriftPerHour < 0:
		return o, errors.New("sandbox: options: Servers and DriftPerHour must not be negative")
	case !isRate(o.RaceRate) || !isRate(o.Faults.ErrorRate) || !isRate(o.Faults.GarbageRate):
		return o, errors.New("sandbox: options: rates must be within [0, 1]")
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Servers == 0 {
		o.Servers = 2000
	}
	if o.ProvisionDelay == 0 {
		o.ProvisionDelay = 20 * time.Second
	}
	if o.MinInterval <= 0 {
		o.MinInterval = time.Second
	}
	if o.CreateInterval <= 0 {
		o.CreateInterval = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.InitialBalances == nil {
		o.InitialBalances = map[string]float64{currencyUSD: 500, currencyCLORE: 250000, currencyBTC: 0.005}
	}
	return o, nil
}

// isRate reports whether p is a probability.
func isRate(p float64) bool { return p >= 0 && p <= 1 }

// Server is a simulated Clore API. It is an http.Handler serving /v1/.
type Server struct {
	opts    Options
	market  *market
	store   *store
	limiter *rateLimiter
	chaos   *chaos
	log     *requestLog
	hooks   hooks
	quirks  quirks
}

// New generates the marketplace and opens the state file.
func New(opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := sharedMarket(opts.Seed, opts.Servers, opts.DriftPerHour)
	if err != nil {
		return nil, err
	}
	st, err := openStore(context.Background(), opts.StatePath, opts.InitialBalances)
	if err != nil {
		return nil, err
	}
	return &Server{
		opts:    opts,
		market:  m,
		store:   st,
		limiter: newRateLimiter(opts.MinInterval, opts.CreateInterval),
		chaos:   newChaos(opts.Seed, opts.Faults),
		log:     newRequestLog(),
	}, nil
}

// Close closes the state file. Requests after Close fail with HTTP 500 {"code":1}.
func (s *Server) Close() error { return s.store.close() }

// call is what a handler needs from a request.
type call struct {
	now     time.Time
	keyHash string
	query   url.Values
	body    []byte
}

// handler answers one endpoint.
type handler func(ctx context.Context, c call) answer

// route returns the handler and method of an endpoint.
func (s *Server) route(endpoint string) (h handler, method string, ok bool) {
	switch endpoint {
	case "wallets":
		return s.handleWallets, http.MethodGet, true
	case "marketplace":
		return s.handleMarketplace, http.MethodGet, true
	case "my_orders":
		return s.handleMyOrders, http.MethodGet, true
	case "spot_marketplace":
		return s.handleSpotMarketplace, http.MethodGet, true
	case "create_order":
		return s.handleCreateOrder, http.MethodPost, true
	case "cancel_order":
		return s.handleCancelOrder, http.MethodPost, true
	case "set_spot_price":
		return s.handleSetSpotPrice, http.MethodPost, true
	case "renter_fees":
		return s.handleRenterFees, http.MethodGet, true
	}
	return nil, "", false
}

// ServeHTTP answers requests under /v1/ like the Clore API. The order of
// checks: latency, injected answers, garbage faults, auth, routing, rate
// limit, error faults, then the endpoint itself.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := RequestRecord{At: s.opts.Now(), Endpoint: endpointOf(r.URL.Path), Code: -1}
	if key := r.Header.Get("auth"); key != "" {
		rec.KeyHash = hashKey(key)
	}
	a, ok := s.answer(r, rec)
	if ok {
		ct := a.contentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body) // the client may be gone; nothing to do about it
		rec.Status, rec.Code = a.status, a.code
		if a.err != nil {
			rec.Error = a.err.Error()
		}
	}
	s.log.add(rec)
}

// answer decides the response; ok is false when the client went away.
func (s *Server) answer(r *http.Request, rec RequestRecord) (a answer, ok bool) {
	f := s.chaos.current()
	if f.Latency > 0 && !sleepCtx(r.Context(), f.Latency) {
		return answer{}, false
	}
	if a, ok := s.chaos.pop(rec.Endpoint); ok {
		return a, true
	}
	if a, ok := s.chaos.garbage(f.GarbageRate); ok {
		return a, true
	}
	if !s.authorized(r.Header.Get("auth")) {
		return codeOnly(http.StatusUnauthorized, 3), true
	}
	h, method, found := s.route(rec.Endpoint)
	if !found {
		return codeOnly(http.StatusNotFound, 4), true
	}
	if r.Method != method {
		return codeOnly(http.StatusMethodNotAllowed, 4), true
	}
	if s.opts.RateLimit && !s.limiter.allow(rec.KeyHash, rec.Endpoint == "create_order", rec.At) {
		return codeOnly(http.StatusTooManyRequests, 5), true
	}
	if s.chaos.roll(f.ErrorRate) {
		return codeOnly(http.StatusInternalServerError, 1), true
	}
	c := call{now: s.opts.Now(), keyHash: rec.KeyHash, query: r.URL.Query()}
	if method == http.MethodPost {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		if err != nil || len(body) > maxBodyBytes {
			return invalidInput("request body unreadable or too large"), true
		}
		c.body = body
	}
	return h(r.Context(), c), true
}

// authorized checks the `auth` header.
func (s *Server) authorized(key string) bool {
	if key == "" {
		return false
	}
	if s.opts.APIKey == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.APIKey)) == 1
}

// endpointOf returns the endpoint name of a path ("/v1/wallets" → "wallets");
// paths outside /v1/ are returned as they are and are unknown endpoints.
func endpointOf(path string) string {
	if name, ok := strings.CutPrefix(path, "/v1/"); ok {
		return name
	}
	return path
}

// hashKey is the stored and recorded form of an API key.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// sleepCtx waits d of real time; it returns false if ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// InjectNext queues an exact answer for the next request to endpoint (the
// name below /v1/, e.g. "create_order"). Queued answers are used in FIFO
// order, before auth and every other check (but after Faults.Latency).
func (s *Server) InjectNext(endpoint string, status int, body string) {
	s.chaos.push(endpoint, status, body)
}

// RentByOther marks a server as rented by someone else for good: it shows
// rented in the marketplace and create_order answers server-already-rented.
// Every Server sharing the state file sees it.
func (s *Server) RentByOther(serverID int64) {
	// A test hook without an error result: a failed write (closed state)
	// shows up as the server still being free.
	_ = s.store.markRented(context.Background(), serverID, 0)
}

// SetFaults replaces the fault-injection settings; rates outside [0, 1] are
// clamped.
func (s *Server) SetFaults(f Faults) { s.chaos.set(f) }

// Requests returns the records of the answered requests, oldest first (the
// last 10,000 at most).
func (s *Server) Requests() []RequestRecord { return s.log.list() }

// internalError is the answer to a failure of the sandbox itself; the real
// API answers database errors with HTTP 500 {"code":1}.
func internalError(err error) answer {
	a := codeOnly(http.StatusInternalServerError, 1)
	a.err = err
	return a
}
