package sandbox

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Faults configures fault injection. Decisions come from a math/rand/v2
// source seeded with Options.Seed, so a run is repeatable for a given
// sequence of requests.
type Faults struct {
	// ErrorRate is the fraction of requests (after auth and rate limiting)
	// answered HTTP 500 {"code":1}.
	ErrorRate float64
	// GarbageRate is the fraction of requests answered with a non-JSON body:
	// half HTTP 403 text/plain "error code: 1010" (Cloudflare), half a
	// truncated JSON body with HTTP 200.
	GarbageRate float64
	// Latency is real time added to every request; a request whose context
	// ends meanwhile gets no answer.
	Latency time.Duration
}

// chaos owns fault settings, injected answers and every random decision
// made while serving (faults, lost races).
type chaos struct {
	mu     sync.Mutex
	rng    *rand.Rand
	faults Faults
	queue  map[string][]answer
}

// newChaos seeds the decision source.
func newChaos(seed int64, f Faults) *chaos {
	return &chaos{rng: newRand(seed, 0x6661756c7473), faults: clampFaults(f), queue: make(map[string][]answer)}
}

// clampFaults keeps rates within [0, 1] and latency non-negative.
func clampFaults(f Faults) Faults {
	f.ErrorRate = min(max(f.ErrorRate, 0), 1)
	f.GarbageRate = min(max(f.GarbageRate, 0), 1)
	f.Latency = max(f.Latency, 0)
	return f
}

// current returns the fault settings.
func (c *chaos) current() Faults {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faults
}

// set replaces the fault settings.
func (c *chaos) set(f Faults) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = clampFaults(f)
}

// push queues an exact answer for endpoint.
func (c *chaos) push(endpoint string, status int, body string) {
	a := answer{status: status, code: -1, body: []byte(body), contentType: "text/plain; charset=utf-8"}
	var probe struct {
		Code *int `json:"code"`
	}
	if json.Valid(a.body) {
		a.contentType = ""
		if json.Unmarshal(a.body, &probe) == nil && probe.Code != nil {
			a.code = *probe.Code
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue[endpoint] = append(c.queue[endpoint], a)
}

// pop takes the oldest queued answer for endpoint.
func (c *chaos) pop(endpoint string) (answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue[endpoint]
	if len(q) == 0 {
		return answer{}, false
	}
	c.queue[endpoint] = q[1:]
	return q[0], true
}

// roll returns true with probability p; p <= 0 draws nothing, so the
// sequence of decisions only depends on the faults actually enabled.
func (c *chaos) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.Float64() < p
}

// durationN returns a random duration in [0, d).
func (c *chaos) durationN(d time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.rng.Int64N(int64(d)))
}

// garbage decides a garbage answer with probability rate.
func (c *chaos) garbage(rate float64) (answer, bool) {
	if !c.roll(rate) {
		return answer{}, false
	}
	if c.roll(0.5) {
		return answer{status: http.StatusForbidden, code: -1, contentType: "text/plain; charset=UTF-8",
			body: []byte("error code: 1010")}, true
	}
	return answer{status: http.StatusOK, code: -1, body: []byte(`{"code":0,"orders":[{"id":19`)}, true
}
