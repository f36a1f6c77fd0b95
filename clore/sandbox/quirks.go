package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// quirks are behaviours clients of the real API have reported
// (shared/clore-api.md §10) that tests switch on: odd historical entries in
// my_orders, a create_order that answers code 1 yet rents, my_orders lagging
// create_order, and cancel_order refusing. Like hooks they live in memory,
// per Server.
type quirks struct {
	mu sync.Mutex
	// odd are the entries AddOddOrders put in front of every key's my_orders.
	odd *oddOrders
	// code1 turns the next successful creates into code 1 (CreateCode1ButRent).
	code1 code1Rule
	// lag hides every new order from my_orders for this long (LagMyOrders).
	lag time.Duration
	// hidden maps an order id to the time my_orders first lists it.
	hidden map[int64]time.Time
	// cancelFails and cancelCode make the next cancels fail (FailCancels).
	cancelFails int
	cancelCode  int
}

// code1Rule is the pending CreateCode1ButRent.
type code1Rule struct {
	serverID int64 // 0: any server
	left     int
	lag      time.Duration
}

// oddOrders are the raw my_orders entries of AddOddOrders.
type oddOrders struct {
	ids       OddOrders
	completed []json.RawMessage // with return_completed=true only
	always    []json.RawMessage // in both lists
}

// OddOrders names the entries AddOddOrders puts in my_orders.
type OddOrders struct {
	// Legacy is an old completed spot order in the older field shapes:
	// pub_cluster a string, tcp_ports an object ({"22":"40123",
	// "8888":40124}), no online/rating/owner fields. A client must decode it.
	// It is listed only with return_completed=true.
	Legacy int64
	// BadCT is an order whose ct is an object: undecodable, id readable.
	BadCT int64
	// A third entry has the id "abc": undecodable, without an id. BadCT and
	// it are listed with and without return_completed.
}

// Ids of the odd entries: far below the ids the sandbox hands out
// (firstOrderID), so they never collide with real orders.
const (
	oddLegacyID = 1_512_093
	oddBadCTID  = 1_600_002
)

// AddOddOrders puts three historical entries in front of the my_orders
// answers of every key of this Server (not of other Servers sharing the
// state file), as the real API's history holds them (clore-api.md §10): an
// old completed order in the older field shapes and two entries a strict
// client cannot decode. It returns their ids; calling it again changes
// nothing.
func (s *Server) AddOddOrders() OddOrders {
	s.quirks.mu.Lock()
	defer s.quirks.mu.Unlock()
	if s.quirks.odd == nil {
		s.quirks.odd = s.newOddOrders(s.opts.Now())
	}
	return s.quirks.odd.ids
}

// newOddOrders renders the entries of AddOddOrders, dated about four months
// before now on the marketplace's first server.
func (s *Server) newOddOrders(now time.Time) *oddOrders {
	sv := s.market.servers[0]
	ct := now.Add(-120 * 24 * time.Hour).Unix()
	region := strings.ToLower(sv.country)
	legacy := fmt.Sprintf(`{"id":%d,"creation_fee":0.1,"price":0.00003,"mrl":604800,`+
		`"image":"cloreai/ubuntu20.04-jupyter","currency":"bitcoin","spend":0.0000721,"ct":%d,"specs":%s,`+
		`"si":%d,"mon_container":0,"pub_cluster":"n2.%s.clorecloud.net","tcp_ports":{"22":"40123","8888":40124},`+
		`"http_port":"8888","spot":true,"expired":true}`, oddLegacyID, ct, sv.specs, sv.id, region)
	badCT := fmt.Sprintf(`{"id":%d,"creation_fee":0.1,"price":2,"mrl":604800,"image":"cloreai/ubuntu22.04-cuda-12.4",`+
		`"currency":"USD-Blockchain","spend":1.5,"ct":{},"si":%d,"online":false,"pub_cluster":[],"tcp_ports":[]}`,
		oddBadCTID, sv.id)
	badID := fmt.Sprintf(`{"id":"abc","creation_fee":0.1,"price":2,"image":"cloreai/ubuntu22.04-cuda-12.4",`+
		`"currency":"USD-Blockchain","ct":%d,"si":%d}`, ct+3600, sv.id)
	return &oddOrders{
		ids:       OddOrders{Legacy: oddLegacyID, BadCT: oddBadCTID},
		completed: []json.RawMessage{json.RawMessage(legacy)},
		always:    []json.RawMessage{json.RawMessage(badCT), json.RawMessage(badID)},
	}
}

// oddEntries returns the odd entries of a my_orders answer.
func (q *quirks) oddEntries(completed bool) []json.RawMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.odd == nil {
		return nil
	}
	var out []json.RawMessage
	if completed {
		out = append(out, q.odd.completed...)
	}
	return append(out, q.odd.always...)
}

// CreateCode1ButRent makes the next n create_order calls that would create
// an order answer HTTP 500 {"code":1}, Clore's opaque database error, and
// create the order all the same; each such order shows in my_orders only
// lag after its creation (by Options.Now). A community client saw this live
// (clore-api.md §10). A create that fails for a reason of its own (server
// rented, balance) answers that as usual and does not count. It replaces an
// earlier CreateCode1ButRent; n <= 0 turns it off.
func (s *Server) CreateCode1ButRent(n int, lag time.Duration) {
	s.CreateCode1ButRentOn(0, n, lag)
}

// CreateCode1ButRentOn is CreateCode1ButRent for creates on one server only
// (serverID 0: any).
func (s *Server) CreateCode1ButRentOn(serverID int64, n int, lag time.Duration) {
	s.quirks.mu.Lock()
	defer s.quirks.mu.Unlock()
	s.quirks.code1 = code1Rule{serverID: serverID, left: max(n, 0), lag: max(lag, 0)}
}

// LagMyOrders makes every order created from now on show in my_orders only
// d after its creation, as clients of the real API saw (it lags create_order
// by seconds); the order exists meanwhile (the server is taken, it is
// billed, it can be cancelled). 0 turns it off for new orders.
func (s *Server) LagMyOrders(d time.Duration) {
	s.quirks.mu.Lock()
	defer s.quirks.mu.Unlock()
	s.quirks.lag = max(d, 0)
}

// created is told of every order create_order made on serverID at now. It
// hides the order from my_orders for the configured lag and reports whether
// the answer must be code 1 (CreateCode1ButRent).
func (q *quirks) created(id, serverID int64, now time.Time) (code1 bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	lag := q.lag
	if r := &q.code1; r.left > 0 && (r.serverID == 0 || r.serverID == serverID) {
		r.left--
		code1, lag = true, max(lag, r.lag)
	}
	if lag > 0 {
		if q.hidden == nil {
			q.hidden = make(map[int64]time.Time)
		}
		q.hidden[id] = now.Add(lag)
	}
	return code1
}

// visible reports whether my_orders lists order id at now; it forgets
// orders whose lag has passed.
func (q *quirks) visible(id int64, now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	until, ok := q.hidden[id]
	if !ok {
		return true
	}
	if now.Before(until) {
		return false
	}
	delete(q.hidden, id)
	return true
}

// FailCancels makes the next n cancel_order calls that pass auth and the
// rate limit answer {"code":code} and cancel nothing. Code 2 (invalid input)
// is what a client of the real API reported; its HTTP status is 400 as for
// every code-2 answer, code 1 has 500, 3 401, 4 404, 5 429, 6 200 (use
// InjectNext for a code 6 with an error string). A code outside 1..6 is
// taken as 2. It replaces an earlier FailCancels; n <= 0 turns it off.
func (s *Server) FailCancels(n int, code int) {
	if code < 1 || code > 6 {
		code = 2
	}
	s.quirks.mu.Lock()
	defer s.quirks.mu.Unlock()
	s.quirks.cancelFails, s.quirks.cancelCode = max(n, 0), code
}

// failCancel returns the answer of a cancel that FailCancels makes fail.
func (q *quirks) failCancel() (answer, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cancelFails <= 0 {
		return answer{}, false
	}
	q.cancelFails--
	return codeOnly(statusOfCode(q.cancelCode), q.cancelCode), true
}

// statusOfCode is the HTTP status the sandbox answers a code with.
func statusOfCode(code int) int {
	switch code {
	case 1:
		return http.StatusInternalServerError
	case 2:
		return http.StatusBadRequest
	case 3:
		return http.StatusUnauthorized
	case 4:
		return http.StatusNotFound
	case 5:
		return http.StatusTooManyRequests
	}
	return http.StatusOK
}

// outbidHold is how long the outbidder keeps a server after Outbid.
const outbidHold = 6 * time.Hour

// ErrNotSpot is Outbid's answer for an on-demand order.
var ErrNotSpot = errors.New("sandbox: not a spot order")

// Outbid ends an active spot order as if someone had outbid it: it ends at
// Options.Now (billing stops there), my_orders shows it as it shows an
// expired order ("expired":true, offline, no hosts or ports, listed only
// with return_completed=true), cancel_order then answers order_not_active,
// and the server is rented by someone else for the next 6 hours. Every
// Server sharing the state file sees it. It fails for an unknown order, an
// order that already ended, and an on-demand order (ErrNotSpot).
func (s *Server) Outbid(orderID int64) error {
	if err := s.store.endSpotOrder(context.Background(), orderID, s.opts.Now().UnixMilli(), outbidHold); err != nil {
		return fmt.Errorf("sandbox: outbid order %d: %w", orderID, err)
	}
	return nil
}
