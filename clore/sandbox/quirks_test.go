package sandbox

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawOrders fetches my_orders and returns its entries undecoded.
func (sb *sandbox) rawOrders(t *testing.T, completed bool) []json.RawMessage {
	t.Helper()
	path := "/v1/my_orders"
	if completed {
		path += "?return_completed=true"
	}
	r := sb.get(t, path)
	var body struct {
		Orders []json.RawMessage `json:"orders"`
		Code   *int              `json:"code"`
	}
	if err := json.Unmarshal(r.raw, &body); err != nil || r.status != http.StatusOK || body.Code == nil || *body.Code != 0 {
		t.Fatalf("my_orders: %d %s (%v)", r.status, r.raw, err)
	}
	return body.Orders
}

func TestAddOddOrders(t *testing.T) {
	sb := newSandbox(t, Options{})
	s := sb.freeServer(t, currencyUSD, "")
	if r := sb.post(t, "/v1/create_order", orderBody(s.ID)); r.code() != 0 {
		t.Fatalf("create: %s", r.raw)
	}
	ids := sb.srv.AddOddOrders()
	if again := sb.srv.AddOddOrders(); again != ids || ids.Legacy == 0 || ids.BadCT == 0 {
		t.Fatalf("AddOddOrders = %+v, then %+v", ids, again)
	}
	all := sb.rawOrders(t, true)
	if len(all) != 4 {
		t.Fatalf("return_completed lists %d entries, want 3 odd ones and the order", len(all))
	}
	var legacy struct {
		ID         int64           `json:"id"`
		PubCluster json.RawMessage `json:"pub_cluster"`
		TCPPorts   json.RawMessage `json:"tcp_ports"`
		Expired    bool            `json:"expired"`
		Spot       bool            `json:"spot"`
	}
	if err := json.Unmarshal(all[0], &legacy); err != nil {
		t.Fatal(err)
	}
	if legacy.ID != ids.Legacy || legacy.PubCluster[0] != '"' || legacy.TCPPorts[0] != '{' || !legacy.Expired || !legacy.Spot {
		t.Errorf("legacy entry = %s", all[0])
	}
	if !strings.Contains(string(all[1]), `"ct":{}`) || !strings.Contains(string(all[1]), `"id":1600002`) {
		t.Errorf("second entry = %s, want the object ct", all[1])
	}
	if !strings.Contains(string(all[2]), `"id":"abc"`) {
		t.Errorf("third entry = %s, want the string id", all[2])
	}
	var strict struct {
		Orders []struct {
			ID int64 `json:"id"`
			CT int64 `json:"ct"`
		} `json:"orders"`
	}
	if err := json.Unmarshal(sb.get(t, "/v1/my_orders?return_completed=true").raw, &strict); err == nil {
		t.Error("a strict decoder reads the odd answer whole; the odd entries do not bite")
	}
	if active := sb.rawOrders(t, false); len(active) != 3 || strings.Contains(string(active[0]), `"expired":true`) {
		t.Errorf("active list has %d entries, want the two undecodable ones and the order", len(active))
	}
}

func TestCreateCode1ButRent(t *testing.T) {
	sb := newSandbox(t, Options{ProvisionDelay: -1})
	s := sb.freeServer(t, currencyUSD, "")
	before := sb.balance(t, currencyUSD)
	sb.srv.CreateCode1ButRent(1, 10*time.Second)

	r := sb.post(t, "/v1/create_order", orderBody(s.ID))
	if r.status != http.StatusInternalServerError || string(r.raw) != `{"code":1}` {
		t.Fatalf("create = %d %s, want HTTP 500 {\"code\":1}", r.status, r.raw)
	}
	if n := len(sb.orders(t, true)); n != 0 {
		t.Fatalf("my_orders lists %d orders at once, want none before the lag", n)
	}
	if r := sb.post(t, "/v1/create_order", orderBody(s.ID)); r.body["error"] != "server-already-rented" {
		t.Fatalf("retry on the same server = %s, want server-already-rented: the order exists", r.raw)
	}
	if after := sb.balance(t, currencyUSD); after >= before {
		t.Errorf("balance %v -> %v: the creation fee was not charged", before, after)
	}
	sb.clock.Advance(9 * time.Second)
	if n := len(sb.orders(t, true)); n != 0 {
		t.Fatalf("order listed after 9 s of a 10 s lag")
	}
	sb.clock.Advance(time.Second)
	orders := sb.orders(t, false)
	if len(orders) != 1 || orders[0]["si"] != float64(s.ID) || orders[0]["online"] != true {
		t.Fatalf("after the lag: %v", orders)
	}
	// One only: the next create answers as usual and lists at once.
	other := sb.freeServer(t, currencyUSD, "")
	if r := sb.post(t, "/v1/create_order", orderBody(other.ID)); string(r.raw) != `{"code":0}` {
		t.Fatalf("second create = %s", r.raw)
	}
	if n := len(sb.orders(t, false)); n != 2 {
		t.Errorf("%d orders listed, want 2", n)
	}
}

// A create that fails for its own reason does not use up the hook, and the
// server-specific form leaves other servers alone.
func TestCreateCode1ButRentOn(t *testing.T) {
	sb := newSandbox(t, Options{})
	target := sb.freeServer(t, currencyUSD, "")
	sb.srv.CreateCode1ButRentOn(target.ID, 1, 0)
	sb.srv.RentByOther(target.ID)
	if r := sb.post(t, "/v1/create_order", orderBody(target.ID)); r.body["error"] != "server-already-rented" {
		t.Fatalf("rented server = %s", r.raw)
	}
	other := sb.freeServer(t, currencyUSD, "")
	if r := sb.post(t, "/v1/create_order", orderBody(other.ID)); string(r.raw) != `{"code":0}` {
		t.Fatalf("other server = %s, want success", r.raw)
	}
	sb.srv.CreateCode1ButRentOn(0, 0, 0)
	third := sb.freeServer(t, currencyUSD, "")
	sb.srv.CreateCode1ButRentOn(third.ID, 1, 0)
	if r := sb.post(t, "/v1/create_order", orderBody(third.ID)); r.status != 500 || r.code() != 1 {
		t.Fatalf("target server = %d %s, want code 1", r.status, r.raw)
	}
	if n := len(sb.orders(t, false)); n != 2 {
		t.Errorf("%d orders, want 2 (the code-1 one without lag included)", n)
	}
}

func TestLagMyOrders(t *testing.T) {
	sb := newSandbox(t, Options{})
	sb.srv.LagMyOrders(5 * time.Second)
	s := sb.freeServer(t, currencyUSD, "")
	if r := sb.post(t, "/v1/create_order", orderBody(s.ID)); string(r.raw) != `{"code":0}` {
		t.Fatalf("create = %s", r.raw)
	}
	if n := len(sb.orders(t, true)); n != 0 {
		t.Fatalf("listed at once despite the lag")
	}
	sb.clock.Advance(5 * time.Second)
	if n := len(sb.orders(t, false)); n != 1 {
		t.Fatalf("%d orders after the lag, want 1", n)
	}
	sb.srv.LagMyOrders(0)
	other := sb.freeServer(t, currencyUSD, "")
	sb.post(t, "/v1/create_order", orderBody(other.ID))
	if n := len(sb.orders(t, false)); n != 2 {
		t.Errorf("%d orders with the lag off, want 2", n)
	}
}

func TestFailCancels(t *testing.T) {
	sb := newSandbox(t, Options{})
	s := sb.freeServer(t, currencyUSD, "")
	sb.post(t, "/v1/create_order", orderBody(s.ID))
	id := sb.orders(t, false)[0]["id"]
	sb.srv.FailCancels(2, 2)
	for i := range 2 {
		r := sb.post(t, "/v1/cancel_order", map[string]any{"id": id})
		if r.status != http.StatusBadRequest || string(r.raw) != `{"code":2}` {
			t.Fatalf("cancel %d = %d %s, want HTTP 400 {\"code\":2}", i, r.status, r.raw)
		}
		if n := len(sb.orders(t, false)); n != 1 {
			t.Fatalf("a refused cancel ended the order")
		}
	}
	if r := sb.post(t, "/v1/cancel_order", map[string]any{"id": id}); string(r.raw) != `{"code":0}` {
		t.Fatalf("third cancel = %s", r.raw)
	}
	if n := len(sb.orders(t, false)); n != 0 {
		t.Errorf("order still active after a successful cancel")
	}
	sb.srv.FailCancels(1, 42)
	if r := sb.post(t, "/v1/cancel_order", map[string]any{"id": id}); r.code() != 2 {
		t.Errorf("code 42 = %s, want taken as 2", r.raw)
	}
	sb.srv.FailCancels(1, 1)
	if r := sb.post(t, "/v1/cancel_order", map[string]any{"id": id}); r.status != 500 || r.code() != 1 {
		t.Errorf("code 1 = %d %s", r.status, r.raw)
	}
}

func TestOutbid(t *testing.T) {
	sb := newSandbox(t, Options{ProvisionDelay: -1})
	s := sb.freeServer(t, currencyUSD, "")
	body := orderBody(s.ID)
	body["type"], body["spotprice"] = "spot", s.Price.Spot[currencyUSD]*2
	if r := sb.post(t, "/v1/create_order", body); r.code() != 0 {
		t.Fatalf("spot create: %s", r.raw)
	}
	running := sb.orders(t, false)[0]
	id := int64(running["id"].(float64))
	sb.clock.Advance(time.Hour)
	if err := sb.srv.Outbid(id); err != nil {
		t.Fatal(err)
	}
	if n := len(sb.orders(t, false)); n != 0 {
		t.Fatalf("outbid order still active")
	}
	ended := sb.orders(t, true)[0]
	spend := ended["spend"]
	if ended["expired"] != true || ended["online"] != false || len(ended["pub_cluster"].([]any)) != 0 ||
		len(ended["tcp_ports"].([]any)) != 0 || ended["spot"] != true {
		t.Errorf("outbid order = %v, want the shape of an expired order", ended)
	}
	sb.clock.Advance(time.Hour)
	if later := sb.orders(t, true)[0]; later["spend"] != spend {
		t.Errorf("spend went on after the outbid: %v -> %v", spend, later["spend"])
	}
	if r := sb.post(t, "/v1/cancel_order", map[string]any{"id": id}); r.body["error"] != "order_not_active" {
		t.Errorf("cancel after outbid = %s", r.raw)
	}
	if r := sb.post(t, "/v1/create_order", body); r.body["error"] != "server-already-rented" {
		t.Errorf("rent the server again = %s, want the outbidder to hold it", r.raw)
	}
	if err := sb.srv.Outbid(id); !errors.Is(err, errOrderNotActive) {
		t.Errorf("outbid twice = %v", err)
	}
	if err := sb.srv.Outbid(42); !errors.Is(err, errOrderNotFound) {
		t.Errorf("outbid unknown = %v", err)
	}
	od := sb.freeServer(t, currencyUSD, "")
	sb.post(t, "/v1/create_order", orderBody(od.ID))
	active := sb.orders(t, false)
	if err := sb.srv.Outbid(int64(active[0]["id"].(float64))); !errors.Is(err, ErrNotSpot) {
		t.Errorf("outbid on-demand = %v, want ErrNotSpot", err)
	}
}
