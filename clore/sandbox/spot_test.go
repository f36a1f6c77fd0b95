package sandbox

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func TestSpotOrders(t *testing.T) {
	sb := newSandbox(t, Options{})
	s := sb.freeServer(t, currencyUSD, "")
	bid := round(s.Price.Spot[currencyUSD]*2, 2)
	body := orderBody(s.ID)
	body["type"], body["spotprice"] = "spot", bid
	if r := sb.post(t, "/v1/create_order", body); string(r.raw) != `{"code":0}` {
		t.Fatalf("spot create: %s", r.raw)
	}
	o := sb.orders(t, false)[0]
	if o["spot"] != true || o["price"] != bid {
		t.Fatalf("spot order: spot %v price %v, want true %v", o["spot"], o["price"], bid)
	}
	id := o["id"]

	market := sb.get(t, fmt.Sprintf("/v1/spot_marketplace?market=%d", s.ID))
	if market.code() != 0 || market.body["exists"] != true {
		t.Fatalf("spot_marketplace: %s", market.raw)
	}
	m := market.body["market"].(map[string]any)
	mine := 0
	for _, raw := range m["offers"].([]any) {
		if off := raw.(map[string]any); off["my"] == true && off["offer_id"] == id && off["active"] == true {
			mine++
		}
	}
	srvInfo := m["server"].(map[string]any)
	if mine != 1 || srvInfo["online"] != true || srvInfo["min_pricing"].(map[string]any)[currencyUSD] != s.Price.Spot[currencyUSD] {
		t.Errorf("spot market: %s", market.raw)
	}

	steps := []struct {
		name      string
		advance   time.Duration
		price     float64
		wantError string
	}{
		{"lower by 20%", 0, bid * 0.8, "exceeded_max_step"},
		{"lower by 5%", 0, bid * 0.95, ""},
		{"lower again at once", 0, bid * 0.9, "can_lower_every_600_seconds"},
		{"raise any time", time.Second, bid * 1.5, ""},
		{"lower after 600 s", 600 * time.Second, bid * 1.4, ""},
		{"below the minimum", 600 * time.Second, s.Price.Spot[currencyUSD] / 2, "amount_too_low"},
	}
	for _, st := range steps {
		sb.clock.Advance(st.advance)
		r := sb.post(t, "/v1/set_spot_price", map[string]any{"order_id": id, "desired_price": st.price})
		if got, _ := r.body["error"].(string); got != st.wantError || r.status != 200 {
			t.Fatalf("%s: %d %s, want error %q", st.name, r.status, r.raw, st.wantError)
		}
		switch st.wantError {
		case "exceeded_max_step":
			if step := r.body["max_step"].(float64); math.Abs(step-bid*0.1) > 1e-6 {
				t.Errorf("max_step %v, want %v", step, bid*0.1)
			}
		case "can_lower_every_600_seconds":
			if wait := r.body["time_to_lowering"].(float64); wait != 600 {
				t.Errorf("time_to_lowering %v, want 600", wait)
			}
		}
	}
	if o := sb.orders(t, false)[0]; o["price"] != bid*1.4 {
		t.Errorf("price %v, want %v", o["price"], bid*1.4)
	}
}

func TestSpotRequestErrors(t *testing.T) {
	sb := newSandbox(t, Options{APIKey: anyKey})
	s := sb.freeServer(t, currencyUSD, "")
	if r := sb.post(t, "/v1/create_order", orderBody(s.ID)); r.code() != 0 {
		t.Fatal(string(r.raw))
	}
	onDemandID := sb.orders(t, false)[0]["id"]
	tests := []struct {
		name, method, path string
		body               any
		wantStatus         int
		wantCode           int
		wantError          string
	}{
		{"market missing", "GET", "/v1/spot_marketplace", nil, 400, 2, ""},
		{"market unknown", "GET", "/v1/spot_marketplace?market=5", nil, 200, 6, "server-dont-exist"},
		{"market not a number", "GET", "/v1/spot_marketplace?market=abc", nil, 400, 2, ""},
		{"set price unknown order", "POST", "/v1/set_spot_price", map[string]any{"order_id": 1, "desired_price": 1}, 200, 6, "order_dont_exist"},
		{"set price on-demand order", "POST", "/v1/set_spot_price", map[string]any{"order_id": onDemandID, "desired_price": 1}, 400, 2, ""},
		{"set price missing price", "POST", "/v1/set_spot_price", map[string]any{"order_id": onDemandID}, 400, 2, ""},
		{"set price malformed", "POST", "/v1/set_spot_price", `{"order_id":"x"}`, 400, 2, ""},
		{"set price of another key's order", "POST", "/v1/set_spot_price", map[string]any{"order_id": onDemandID, "desired_price": 1}, 200, 6, "you_dont_own_this_order"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := testKey
			if tc.wantError == "you_dont_own_this_order" {
				key = "someone-else"
			}
			r := sb.call(t, tc.method, tc.path, key, tc.body)
			if r.status != tc.wantStatus || r.code() != tc.wantCode || r.body["error"] == "" ||
				tc.wantError != "" && r.body["error"] != tc.wantError {
				t.Errorf("got %d %s, want %d code %d %q", r.status, r.raw, tc.wantStatus, tc.wantCode, tc.wantError)
			}
		})
	}
}
