package webhook_test

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/commands"
)

// hostile is one malformed or hostile request and the answer it must get.
type hostile struct {
	name   string
	method string
	path   string
	body   string
	// sign adjusts the signed request (nil: signed correctly by zapier).
	sign   func(h *harness, r *http.Request, body []byte)
	status int
	want   string // the answer's "error" names the problem with this text
	// refusedByPolicy marks a well-formed request the command layer refuses:
	// it writes an audit row, nothing else.
	refusedByPolicy bool
}

func header(name, value string) func(*harness, *http.Request, []byte) {
	return func(_ *harness, r *http.Request, _ []byte) { r.Header.Set(name, value) }
}

func unsigned(_ *harness, r *http.Request, _ []byte) {
	for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		r.Header.Del(k)
	}
}

// resign signs the request again with a timestamp moved by d.
func resign(d time.Duration) func(*harness, *http.Request, []byte) {
	return func(h *harness, r *http.Request, body []byte) {
		for k, v := range webhook.SignedHeaders(h.secret("zapier"), webhook.NewMessageID(), h.clock.Now().Add(d), body) {
			r.Header[k] = v
		}
	}
}

func legacy(sig string) func(*harness, *http.Request, []byte) {
	return func(h *harness, r *http.Request, body []byte) {
		unsigned(h, r, body)
		r.Header.Set("X-Webhook-Signature", sig)
	}
}

func hostileRequests() []hostile {
	long := strings.Repeat("A", 10_000)
	return []hostile{
		// Signatures.
		{name: "no signature", sign: unsigned, status: 401, want: "webhook-signature: missing"},
		{name: "garbled signature", sign: header("webhook-signature", "v1,%%%not-base64%%%"), status: 401, want: "webhook-signature: v1 signature is not base64"},
		{name: "wrong signature", sign: header("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32))), status: 401, want: "webhook-signature: no signature matches"},
		{name: "only unknown signature versions", sign: header("webhook-signature", "v2,abc v1a,def"), status: 401, want: "webhook-signature: no v1 signature"},
		{name: "missing webhook-id", sign: func(_ *harness, r *http.Request, _ []byte) { r.Header.Del("webhook-id") }, status: 401, want: "webhook-id: missing"},
		{name: "missing webhook-timestamp", sign: func(_ *harness, r *http.Request, _ []byte) { r.Header.Del("webhook-timestamp") }, status: 401, want: "webhook-timestamp: missing"},
		{name: "duplicated signature headers", sign: func(_ *harness, r *http.Request, _ []byte) { r.Header.Add("webhook-signature", "v1,AAAA") }, status: 401, want: "webhook-signature: duplicated with different values"},
		{name: "duplicated webhook-id", sign: func(_ *harness, r *http.Request, _ []byte) { r.Header.Add("webhook-id", "msg_other") }, status: 401, want: "webhook-id: duplicated with different values"},
		{name: "stale timestamp", sign: resign(-10 * time.Minute), status: 401, want: "webhook-timestamp: 600s in the past"},
		{name: "future timestamp", sign: resign(10 * time.Minute), status: 401, want: "webhook-timestamp: 600s in the future"},
		{name: "timestamp not a number", sign: header("webhook-timestamp", "yesterday"), status: 401, want: "webhook-timestamp: not an integer"},
		{name: "negative timestamp", sign: header("webhook-timestamp", "-1"), status: 401, want: "webhook-timestamp: not an integer"},
		{name: "huge timestamp", sign: header("webhook-timestamp", strings.Repeat("9", 40)), status: 401, want: "webhook-timestamp: not an integer"},
		{name: "signed by an unknown key", sign: func(h *harness, r *http.Request, body []byte) {
			for k, v := range webhook.SignedHeaders([]byte("not-a-configured-key"), webhook.NewMessageID(), h.clock.Now(), body) {
				r.Header[k] = v
			}
		}, status: 401, want: "webhook-signature: no signature matches"},
		{name: "body changed after signing", sign: func(h *harness, r *http.Request, _ []byte) {
			for k, v := range webhook.SignedHeaders(h.secret("zapier"), webhook.NewMessageID(), h.clock.Now(), []byte(`{"gpu_type":"H100"}`)) {
				r.Header[k] = v
			}
		}, status: 401, want: "webhook-signature: no signature matches"},
		{name: "overlong webhook-id", sign: func(h *harness, r *http.Request, body []byte) {
			id := strings.Repeat("m", 300)
			for k, v := range webhook.SignedHeaders(h.secret("zapier"), id, h.clock.Now(), body) {
				r.Header[k] = v
			}
		}, status: 401, want: "webhook-id: longer than 256"},
		{name: "compat signature not hex", sign: legacy("sha256=zzzz"), status: 401, want: "X-Webhook-Signature: not hex"},
		{name: "compat signature wrong", sign: legacy("sha256=" + strings.Repeat("ab", 32)), status: 401, want: "X-Webhook-Signature: no signature matches"},
		{name: "replayed id with another body", sign: func(h *harness, r *http.Request, body []byte) {
			for k, v := range webhook.SignedHeaders(h.secret("zapier"), "msg_seen", h.clock.Now(), body) {
				r.Header[k] = v
			}
		}, status: 422, want: "webhook-id: already used for a different request"},
		{name: "unsigned GET of a job", method: "GET", path: "/webhook/jobs/abc", body: "", sign: unsigned, status: 401, want: "webhook-signature: missing"},
		{name: "unsigned marketplace", method: "GET", path: "/webhook/marketplace", body: "", sign: unsigned, status: 401, want: "webhook-signature: missing"},

		// Content type and size.
		{name: "wrong content type", sign: header("Content-Type", "text/plain"), status: 415, want: `Content-Type: "text/plain" is not supported`},
		{name: "form content type", sign: header("Content-Type", "application/x-www-form-urlencoded"), status: 415, want: "Content-Type"},
		{name: "missing content type", sign: func(_ *harness, r *http.Request, _ []byte) { r.Header.Del("Content-Type") }, status: 415, want: "Content-Type: missing"},
		{name: "latin-1 charset", sign: header("Content-Type", "application/json; charset=latin1"), status: 415, want: "charset=utf-8"},
		{name: "2 MiB body without Content-Length", body: `{"gpu_type":"` + strings.Repeat("x", 2<<20) + `"}`,
			sign: func(_ *harness, r *http.Request, _ []byte) { r.ContentLength = -1 }, status: 413, want: "body: larger than 1048576 bytes"},
		{name: "2 MiB body", body: `{"gpu_type":"` + strings.Repeat("x", 2<<20) + `"}`, status: 413, want: "body: larger than 1048576 bytes"},

		// JSON.
		{name: "not JSON", body: `gpu_type=4090&max_price=1`, status: 400, want: "body: not valid JSON at byte"},
		{name: "JSON array", body: `[{"gpu_type":"4090"}]`, status: 400, want: "body: a JSON array; want a JSON object"},
		{name: "JSON string", body: `"rent 4090"`, status: 400, want: "body: a string; want a JSON object"},
		{name: "empty body", body: ``, status: 400, want: "body: empty"},
		{name: "truncated JSON", body: `{"gpu_type":"4090"`, status: 400, want: "body: not valid JSON"},
		{name: "two JSON objects", body: `{"gpu_type":"4090"}{"gpu_type":"4090"}`, status: 400, want: "after top-level value"},
		{name: "unknown field", body: `{"gpu_type":"4090","gpu":"4090"}`, status: 400, want: `"gpu": unknown field`},
		{name: "duplicated field", body: `{"gpu_type":"4090","max_price":1,"max_price":900}`, status: 400, want: "max_price: given twice"},
		{name: "missing gpu_type", body: `{"max_price":1}`, status: 400, want: "gpu_type: required"},
		{name: "negative price", body: `{"gpu_type":"4090","max_price":-1}`, status: 400, want: "max_price: want a positive number"},
		{name: "zero price", body: `{"gpu_type":"4090","max_price":0}`, status: 400, want: "max_price: want a positive number"},
		{name: "NaN price", body: `{"gpu_type":"4090","max_price":"NaN"}`, status: 400, want: "max_price: want a number, got a string"},
		{name: "NaN literal", body: `{"gpu_type":"4090","max_price":NaN}`, status: 400, want: "body: not valid JSON"},
		{name: "1e309 price", body: `{"gpu_type":"4090","max_price":1e309}`, status: 400, want: `max_price: "1e309" is out of range`},
		{name: "string price", body: `{"gpu_type":"4090","max_price":"0.50"}`, status: 400, want: "max_price: want a number, got a string"},
		{name: "huge price", body: `{"gpu_type":"4090","max_price":1000000}`, status: 400, want: "max_price: want at most 1000"},
		{name: "10,000-character gpu_type", body: `{"gpu_type":"` + long + `"}`, status: 400, want: "gpu_type: too long: 10000 characters, at most 64"},
		{name: "unicode gpu_type", body: `{"gpu_type":"ＲＴＸ ４０９０"}`, status: 400, want: "gpu_type: may contain only letters, digits"},
		{name: "emoji and control characters", body: `{"gpu_type":"4090 \u0000🔥"}`, status: 400, want: "gpu_type: may contain only"},
		{name: "SQL-looking gpu_type", body: `{"gpu_type":"4090'; DROP TABLE jobs;--"}`, status: 400, want: "gpu_type: may contain only"},
		{name: "operator object as gpu_type", body: `{"gpu_type":{"$ne":null}}`, status: 400, want: "gpu_type: want a string, got a JSON object"},
		{name: "count zero", body: `{"gpu_type":"4090","count":0}`, status: 400, want: "count: want the number of GPUs, a whole number from 1 to 16"},
		{name: "fractional count", body: `{"gpu_type":"4090","count":2.5}`, status: 400, want: "count: want the number of GPUs"},
		{name: "negative hours", body: `{"gpu_type":"4090","hours":-1}`, status: 400, want: "hours: want a number of hours above 0"},
		{name: "use_spot as a string", body: `{"gpu_type":"4090","use_spot":"yes"}`, status: 400, want: "use_spot: want true or false, got a string"},
		{name: "bad image", body: `{"gpu_type":"4090","image":"Ubuntu; rm -rf /"}`, status: 400, want: "image: want a Docker image"},
		{name: "ssh_key that is a private key", body: `{"gpu_type":"4090","ssh_key":"-----BEGIN OPENSSH PRIVATE KEY-----"}`, status: 400, want: "ssh_key: looks like a private key"},
		{name: "ssh_key of an unknown type", body: `{"gpu_type":"4090","ssh_key":"ssh-dss AAAAB3NzaC1kc3M="}`, status: 400, want: "ssh_key: must be a public key"},
		{name: "callback_url to loopback", body: `{"gpu_type":"4090","callback_url":"http://127.0.0.1:8080/"}`, status: 400, want: "callback_url: 127.0.0.1 is a non-public address"},
		{name: "callback_url not http", body: `{"gpu_type":"4090","callback_url":"javascript:alert(1)"}`, status: 400, want: "callback_url: want an http or https URL"},
		{name: "callback_url with password", body: `{"gpu_type":"4090","callback_url":"https://u:p@example.com/x"}`, status: 400, want: "callback_url: must not carry a user name or password"},
		{name: "callback_url too long", body: `{"gpu_type":"4090","callback_url":"https://example.com/` + strings.Repeat("a", 3000) + `"}`, status: 400, want: "callback_url: too long"},
		{name: "order_id as a string", path: "/webhook/cancel-order", body: `{"order_id":"123"}`, status: 400, want: "order_id: want a whole number, got a string"},
		{name: "negative order_id", path: "/webhook/cancel-order", body: `{"order_id":-5}`, status: 400, want: "order_id: want the Clore order id"},
		{name: "missing order_id", path: "/webhook/cancel-order", body: `{}`, status: 400, want: "order_id: required"},
		{name: "missing target_price", path: "/webhook/price-alert", body: `{"gpu_type":"4090"}`, status: 400, want: "target_price: required"},
		{name: "missing text", path: "/webhook/command", body: `{"callback_url":"https://example.com/"}`, status: 400, want: "text: required"},
		{name: "unknown command text", path: "/webhook/command", body: `{"text":"launch rockets"}`, status: 400, want: "text: unknown command"},
		{name: "SQL-looking command text", path: "/webhook/command", body: `{"text":"rent 4090; DROP TABLE jobs"}`, status: 400, want: "text: "},

		// Routes and methods.
		{name: "unknown route", path: "/webhook/launch", body: `{}`, status: 404, want: "no route for /webhook/launch"},
		{name: "GET on a POST route", method: "GET", path: "/webhook/create-order", body: "", status: 405, want: "method GET not allowed"},
		{name: "PUT on the command route", method: "PUT", path: "/webhook/command", body: `{}`, status: 405, want: "method PUT not allowed"},
		{name: "DELETE a job", method: "DELETE", path: "/webhook/jobs/abc", body: "", status: 405, want: "method DELETE not allowed"},
		{name: "malformed job id", method: "GET", path: "/webhook/jobs/abc$def", body: "", status: 400, want: "job id: want the job_id"},
		{name: "unknown job", method: "GET", path: "/webhook/jobs/abcdef", body: "", status: 404, want: "no job abcdef"},

		// Well-formed, refused by the command layer before any job.
		{name: "viewer key rents", sign: func(h *harness, r *http.Request, body []byte) {
			for k, v := range webhook.SignedHeaders(h.secret("watcher"), webhook.NewMessageID(), h.clock.Now(), body) {
				r.Header[k] = v
			}
		}, status: 403, want: "rent needs the renter role", refusedByPolicy: true},
		{name: "price above the team's cap", body: `{"gpu_type":"4090","max_price":6}`, status: 403, want: "above the team's cap", refusedByPolicy: true},
		{name: "GPU unknown to the marketplace", body: `{"gpu_type":"RTX 9999"}`, status: 400, want: `no GPU model "RTX 9999"`, refusedByPolicy: true},
	}
}

// Every hostile request gets its documented 4xx with a message naming the
// problem, no secret, and changes nothing: no job, order, watch or Clore
// order; only policy refusals of well-formed commands are audited.
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// A first delivery whose id the "replayed id" case reuses.
	if r := h.do(h.signedID("POST", "/webhook/status", "zapier", "msg_seen", []byte(`{}`))); r.status != 200 {
		t.Fatalf("seed = %d %s", r.status, r.raw)
	}
	audits, dedups := h.count("audit"), h.count("webhook_requests")
	cases := hostileRequests()
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, path := cmp.Or(tc.method, "POST"), cmp.Or(tc.path, "/webhook/create-order")
			body := tc.body
			if body == "" && method == "POST" && tc.status != 400 {
				body = `{"gpu_type":"4090"}`
			}
			r := h.signed(method, path, "zapier", []byte(body))
			if tc.sign != nil {
				tc.sign(h, r, []byte(body))
			}
			resp := h.do(r)
			if resp.status != tc.status || !strings.Contains(resp.str("error"), tc.want) {
				t.Errorf("got %d %.300s; want %d naming %q", resp.status, resp.raw, tc.status, tc.want)
			}
			if testing.Verbose() {
				t.Logf("%d %.200s", resp.status, resp.raw)
			}
			for name, secret := range h.secrets {
				if strings.Contains(resp.raw, secret) || strings.Contains(resp.raw, base64.StdEncoding.EncodeToString(h.secret(name))) {
					t.Errorf("the answer quotes the secret of %s", name)
				}
			}
			if expected := r.Header.Get("webhook-signature"); len(expected) > 8 && strings.Contains(resp.raw, expected[3:]) {
				t.Error("the answer quotes a signature")
			}
			if len(resp.raw) > 2000 {
				t.Errorf("the answer is %d bytes long", len(resp.raw))
			}
			if tc.refusedByPolicy {
				audits++
			}
			// Every signed request that reaches a route claims its id,
			// refused ones too: the id is bound to that request for good.
			if tc.status == 400 || tc.status == 403 || tc.status == 404 && strings.HasPrefix(path, "/webhook/jobs/") {
				dedups++
			}
		})
	}
	for table, want := range map[string]int{"jobs": 0, "orders": 0, "watches": 0, "outbox": 0, "audit": audits, "webhook_requests": dedups} {
		if got := h.count(table); got != want {
			t.Errorf("%d rows in %s, want %d", got, table, want)
		}
	}
	if n := h.createOrderCalls(); n != 0 {
		t.Errorf("%d create_order calls reached the sandbox", n)
	}
}

// Over-limit callers get 429 with Retry-After and change nothing either.
func TestHostileFloodIsRateLimited(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *webhook.APIOptions, _ *commands.Policy) { o.RatePerMinute, o.IPRatePerMinute = 60, 120 })
	h.clock.Freeze()
	statuses := map[int]int{}
	var retryAfter string
	for range 200 {
		// Bad signatures count against the address only.
		r := h.signed("POST", "/webhook/create-order", "zapier", []byte(`{"gpu_type":"4090"}`))
		r.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)))
		resp := h.do(r)
		statuses[resp.status]++
		if resp.status == http.StatusTooManyRequests {
			retryAfter = resp.header.Get("Retry-After")
			if !strings.Contains(resp.str("error"), "rate limit: address 192.0.2.10 is over 120 requests per minute") {
				t.Fatalf("429 answer %s", resp.raw)
			}
		}
	}
	if statuses[401] != 120 || statuses[429] != 80 {
		t.Fatalf("statuses = %v; want 120×401 then 80×429", statuses)
	}
	if secs, err := strconv.Atoi(retryAfter); err != nil || secs < 1 || secs > 60 {
		t.Errorf("Retry-After = %q", retryAfter)
	}
	if h.count("jobs") != 0 || h.count("webhook_requests") != 0 {
		t.Error("a refused request left rows behind")
	}
}
