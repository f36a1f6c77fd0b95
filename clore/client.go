package clore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is Clore's public API.
const DefaultBaseURL = "https://api.clore.ai/v1"

// DefaultFeeRefresh is how often the account's renter fees are fetched again.
const DefaultFeeRefresh = 6 * time.Hour

// maxBody caps an answer; the whole marketplace is a few MB.
const maxBody = 64 << 20

// Observer receives the client's measurements (Prometheus in clorebot).
type Observer interface {
	// Request is called once per HTTP exchange; code is Clore's code ("0".."6"),
	// or "transport" when no envelope came back.
	Request(endpoint, code string, d time.Duration)
	// LimiterWait is called with the time a call waited for the limiter.
	LimiterWait(p Priority, d time.Duration)
	// MalformedEntries is called with the number of entries of an answer's
	// list that could not be decoded and were left out (endpoints
	// "marketplace" and "my_orders").
	MalformedEntries(endpoint string, n int)
}

// Endpoints returns every endpoint the client calls: the values of
// Observer.Request's endpoint label, so that a consumer can show each one
// before its first call.
func Endpoints() []string {
	return []string{"cancel_order", "create_order", "marketplace", "my_orders", "renter_fees",
		"set_spot_price", "spot_marketplace", "wallets"}
}

// ListEndpoints returns the endpoints whose list entries are decoded one by
// one: the values of Observer.MalformedEntries' endpoint label.
func ListEndpoints() []string { return []string{"marketplace", "my_orders"} }

// ObservedCodes returns the values of Observer.Request's code label: Clore's
// documented codes and "transport".
func ObservedCodes() []string { return []string{"0", "1", "2", "3", "4", "5", "6", "transport"} }

// Options configures a Client.
type Options struct {
	BaseURL   string // default DefaultBaseURL
	APIKey    string // sent as the `auth` header
	UserAgent string // sent explicitly: Cloudflare may refuse library defaults
	// HTTPClient defaults to one with Timeout.
	HTTPClient *http.Client
	Timeout    time.Duration // per request; default 30 s
	// MaxRetries applies to calls that are safe to repeat; create_order is never retried.
	MaxRetries int
	// Backoff is the first retry delay (default 1 s); it doubles with full jitter up to MaxBackoff (default 30 s).
	Backoff, MaxBackoff time.Duration
	// Interval and CreateInterval space calls (defaults 1 s and 5 s, Clore's limits).
	Interval, CreateInterval time.Duration
	// Limiter, if set, is shared with other clients of the same key; otherwise one
	// is made from Interval, CreateInterval and Slots.
	Limiter *Limiter
	Slots   SlotStore
	// FeeRefresh is how often the account's renter fees are fetched again
	// (GET /renter_fees, first at the second Marketplace call); default 6 h,
	// negative never fetches them (offers then carry the fallback rates).
	FeeRefresh time.Duration
	// FallbackFees are the renter fee rates offers are priced with while
	// /renter_fees has not answered, and for currencies it does not state;
	// nil, or rates outside [0, 1), select DefaultFeeRates.
	FallbackFees *FeeRates
	// Observer and Logger are optional.
	Observer Observer
	Logger   *slog.Logger
}

// Client calls the Clore API. It is safe for concurrent use; share one per key.
type Client struct {
	base       string
	key        string
	ua         string
	hc         *http.Client
	retries    int
	backoff    time.Duration
	maxBackoff time.Duration
	limiter    *Limiter
	obs        Observer
	log        *slog.Logger
	feeCache   feeCache
	// fallbackFees is Options.FallbackFees (nil: the documented rates); it
	// never changes after New.
	fallbackFees *FeeRates
	malformed    malformedLog
}

// New returns a Client.
func New(o Options) *Client {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: o.Timeout}
	}
	if o.UserAgent == "" {
		o.UserAgent = "clorebot/1"
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FeeRefresh == 0 {
		o.FeeRefresh = DefaultFeeRefresh
	}
	c := &Client{
		base: strings.TrimRight(o.BaseURL, "/"), key: o.APIKey, ua: o.UserAgent,
		hc: o.HTTPClient, retries: o.MaxRetries, backoff: o.Backoff, maxBackoff: o.MaxBackoff,
		limiter: o.Limiter, obs: o.Observer, log: o.Logger,
		feeCache: feeCache{every: o.FeeRefresh},
	}
	if fb := o.FallbackFees; fb != nil && fb.valid() {
		rates := *fb // the caller's value may change; offers share this copy
		c.fallbackFees = &rates
		c.feeCache.fees.Fallback = &rates
	}
	if c.limiter == nil {
		if o.Interval <= 0 {
			o.Interval = time.Second
		}
		if o.CreateInterval <= 0 {
			o.CreateInterval = 5 * time.Second
		}
		lo := LimiterOptions{APIKey: o.APIKey, Interval: o.Interval, CreateInterval: o.CreateInterval, Store: o.Slots}
		if c.obs != nil {
			lo.Observe = c.obs.LimiterWait
		}
		c.limiter = NewLimiter(lo)
	}
	return c
}

// Wallets returns the account's wallets.
func (c *Client) Wallets(ctx context.Context) ([]Wallet, error) {
	var r struct {
		envelope
		Wallets []Wallet `json:"wallets"`
	}
	if err := c.call(ctx, call{method: http.MethodGet, endpoint: "wallets", safe: true}, &r); err != nil {
		return nil, err
	}
	return r.Wallets, nil
}

// Marketplace returns every server on the marketplace (there is no filtering
// or paging on Clore's side), each carrying the account's renter fees (see
// Fees) so that its offer is priced with them. A server whose entry cannot be
// decoded is left out, counted (Observer.MalformedEntries) and logged once.
func (c *Client) Marketplace(ctx context.Context) ([]Server, error) {
	fees := c.refreshFees(ctx)
	var r marketplaceResponse
	if err := c.call(ctx, call{method: http.MethodGet, endpoint: "marketplace", safe: true}, &r); err != nil {
		return nil, err
	}
	if len(r.skipped) > 0 {
		c.reportMalformed(ctx, "marketplace", "server_id", r.skipped)
	}
	for i := range r.Servers {
		r.Servers[i].Fees = &fees
	}
	return r.Servers, nil
}

// MyOrders returns the account's active orders, and completed ones too when
// includeCompleted is set. The list is decoded order by order: an entry that
// cannot be decoded even leniently (see HostList, PortList) is left out,
// counted (Observer.MalformedEntries, SkippedEntries) and logged once, and the
// call succeeds with the others.
func (c *Client) MyOrders(ctx context.Context, includeCompleted bool) ([]Order, error) {
	var r myOrdersResponse
	q := url.Values{"return_completed": {strconv.FormatBool(includeCompleted)}}
	if err := c.call(ctx, call{method: http.MethodGet, endpoint: "my_orders", query: q, safe: true}, &r); err != nil {
		return nil, err
	}
	if len(r.skipped) > 0 {
		c.reportMalformed(ctx, "my_orders", "order_id", r.skipped)
	}
	return r.Orders, nil
}

// CreateOrder asks Clore to rent a server. Clore answers without the order's
// id: find it through MyOrders (server id and creation time). It is never
// retried here; after an error for which OutcomeUnknown is true the order may
// exist, so reconcile through MyOrders before trying again.
func (c *Client) CreateOrder(ctx context.Context, req CreateOrderRequest) error {
	var r envelope
	return c.call(ctx, call{method: http.MethodPost, endpoint: "create_order", body: req, create: true}, &r)
}

// CancelOrder cancels an order; issue optionally reports a problem with the server.
func (c *Client) CancelOrder(ctx context.Context, orderID int64, issue string) error {
	body := struct {
		ID    int64  `json:"id"`
		Issue string `json:"issue,omitempty"`
	}{orderID, issue}
	var r envelope
	// Cancelling twice is harmless, so the call is safe to repeat.
	return c.call(ctx, call{method: http.MethodPost, endpoint: "cancel_order", body: body, safe: true}, &r)
}

// SpotMarketplace returns the spot market of one server.
func (c *Client) SpotMarketplace(ctx context.Context, serverID int64) (*SpotMarket, error) {
	var r struct {
		envelope
		SpotMarket
	}
	q := url.Values{"market": {strconv.FormatInt(serverID, 10)}}
	if err := c.call(ctx, call{method: http.MethodGet, endpoint: "spot_marketplace", query: q, safe: true}, &r); err != nil {
		return nil, err
	}
	return &r.SpotMarket, nil
}

// SetSpotPrice changes the bid (per day, in the order's currency) of a spot order.
func (c *Client) SetSpotPrice(ctx context.Context, orderID int64, pricePerDay float64) error {
	body := struct {
		OrderID      int64   `json:"order_id"`
		DesiredPrice float64 `json:"desired_price"`
	}{orderID, pricePerDay}
	var r envelope
	return c.call(ctx, call{method: http.MethodPost, endpoint: "set_spot_price", body: body}, &r)
}

type call struct {
	method   string
	endpoint string
	query    url.Values
	body     any
	safe     bool // may be repeated after a retryable error
	create   bool // create_order: its own rate lane
}

type enveloper interface{ env() *envelope }

// call sends one logical request, with retries when it is safe.
func (c *Client) call(ctx context.Context, cl call, out enveloper) error {
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return fmt.Errorf("clore: %s: encode: %w", cl.endpoint, err)
		}
	}
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, cl, payload, out)
		if err == nil || !cl.safe || attempt >= c.retries || !retryable(err) || ctx.Err() != nil {
			return err
		}
		delay := c.backoffDelay(attempt)
		c.log.LogAttrs(ctx, slog.LevelWarn, "clore call failed, retrying",
			slog.String("endpoint", cl.endpoint), slog.Int("attempt", attempt+1),
			slog.Duration("delay", delay), slog.Any("error", err))
		if err := sleepUntil(ctx, time.Now().Add(delay)); err != nil {
			return fmt.Errorf("clore: %s: %w", cl.endpoint, err)
		}
	}
}

// backoffDelay is exponential with full jitter in [d/2, d].
func (c *Client) backoffDelay(attempt int) time.Duration {
	d := c.backoff << attempt
	if d > c.maxBackoff || d <= 0 {
		d = c.maxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// once waits for the limiter and makes one HTTP exchange.
func (c *Client) once(ctx context.Context, cl call, payload []byte, out enveloper) error {
	if err := c.limiter.Wait(ctx, cl.create); err != nil {
		return fmt.Errorf("clore: %s: waiting for the rate limiter: %w", cl.endpoint, err)
	}
	start := time.Now()
	status, body, err := c.exchange(ctx, cl, payload)
	if err != nil {
		c.observe(cl.endpoint, "transport", start)
		return &TransportError{Endpoint: cl.endpoint, HTTPStatus: status, Err: err}
	}
	err = decode(cl.endpoint, status, body, out)
	code := "transport"
	var ae *APIError
	switch {
	case err == nil:
		code = "0"
	case errors.As(err, &ae):
		code = strconv.Itoa(ae.Code)
	}
	c.observe(cl.endpoint, code, start)
	return err
}

func (c *Client) observe(endpoint, code string, start time.Time) {
	if c.obs != nil {
		c.obs.Request(endpoint, code, time.Since(start))
	}
}

// exchange sends the request and reads the whole body.
func (c *Client) exchange(ctx context.Context, cl call, payload []byte) (int, []byte, error) {
	u := c.base + "/" + cl.endpoint
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("auth", c.key)
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err // the key travels in a header, so the URL in err is safe to show
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("reading body: %w", err)
	}
	return resp.StatusCode, body, nil
}

// decode reads Clore's envelope whatever the HTTP status and, on success, the
// payload in the same pass.
func decode(endpoint string, status int, body []byte, out enveloper) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return &TransportError{Endpoint: endpoint, HTTPStatus: status, Snippet: snippet(trimmed), Err: errors.New("not a JSON object")}
	}
	if err := unmarshalAnswer(trimmed, out); err != nil {
		// The payload may not fit our types on an error answer: read the envelope alone.
		var env envelope
		if err2 := json.Unmarshal(trimmed, &env); err2 != nil || env.Code == nil {
			return &TransportError{Endpoint: endpoint, HTTPStatus: status, Snippet: snippet(trimmed), Err: err}
		}
		if *env.Code == CodeOK {
			return fmt.Errorf("clore: %s: decode: %w", endpoint, err)
		}
		*out.env() = env
	}
	env := out.env()
	if env.Code == nil {
		return &TransportError{Endpoint: endpoint, HTTPStatus: status, Snippet: snippet(trimmed), Err: errors.New("no code in the answer")}
	}
	if *env.Code == CodeOK {
		return nil
	}
	ae := &APIError{Endpoint: endpoint, HTTPStatus: status, Code: *env.Code, Message: env.Error}
	if env.MaxStep != nil {
		ae.MaxStep = *env.MaxStep
	}
	if env.TimeToLowering != nil {
		ae.TimeToLowering = *env.TimeToLowering
	}
	return ae
}

// answerDecoder is an answer that checks and decodes a whole body itself
// (its UnmarshalJSON only calls decodeAnswer).
type answerDecoder interface{ decodeAnswer(b []byte) error }

// unmarshalAnswer is json.Unmarshal(b, out), without the extra validating
// pass over the body json.Unmarshal makes before it hands the bytes to an
// answerDecoder that makes its own: a marketplace answer is megabytes.
func unmarshalAnswer(b []byte, out enveloper) error {
	if d, ok := out.(answerDecoder); ok {
		return d.decodeAnswer(b)
	}
	return json.Unmarshal(b, out)
}

// snippet is a short, printable start of a body for error messages.
func snippet(b []byte) string {
	const n = 64
	if len(b) > n {
		b = b[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, string(b))
}
