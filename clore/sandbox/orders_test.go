package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCreateOrderLifecycle(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, Options{DriftPerHour: 0.02})
	s := sb.freeServer(t, currencyUSD, "RTX 3090")
	price := s.Price.OnDemand[currencyUSD]

	r := sb.post(t, "/v1/create_order", orderBody(s.ID))
	if r.status != http.StatusOK || string(r.raw) != `{"code":0}` {
		t.Fatalf("create_order = %d %s, want 200 {\"code\":0}", r.status, r.raw)
	}

	orders := sb.orders(t, false)
	if len(orders) != 1 {
		t.Fatalf("my_orders has %d orders, want 1", len(orders))
	}
	o := orders[0]
	checkOrderKeys(t, o)
	if o["online"] != false || len(o["pub_cluster"].([]any)) != 0 || len(o["tcp_ports"].([]any)) != 0 || o["http_pub"] != "" {
		t.Errorf("before ProvisionDelay: %v", o)
	}
	if o["si"] != float64(s.ID) || o["price"] != price || o["currency"] != currencyUSD || o["creation_fee"] != 0.1 ||
		o["mrl"] != float64(min(604800, s.MRL*3600)) || o["ct"] != float64(sb.clock.Now().Unix()) {
		t.Errorf("order fields: %v", o)
	}
	if id := o["id"].(float64); id < 1_940_000 || id > 1_941_000 {
		t.Errorf("order id %v, want around 1,940,000", id)
	}

	sb.clock.Advance(21 * time.Second)
	o = sb.orders(t, false)[0]
	if o["online"] != true {
		t.Fatalf("after ProvisionDelay: online %v", o["online"])
	}
	cluster := fmt.Sprint(o["pub_cluster"])
	region := strings.ToLower(s.Specs.Net.CC)
	if !regexp.MustCompile(`^\[n\d\.` + region + `\.clorecloud\.net\]$`).MatchString(cluster) {
		t.Errorf("pub_cluster %s, want n<N>.%s.clorecloud.net", cluster, region)
	}
	if ports := fmt.Sprint(o["tcp_ports"]); !regexp.MustCompile(`^\[22:\d{4,5}\]$`).MatchString(ports) {
		t.Errorf("tcp_ports %s", ports)
	}
	if pub := o["http_pub"].(string); !regexp.MustCompile(`^[0-9a-z]{13}\.`+region+`\.clorecloud\.net$`).MatchString(pub) || o["http_port"] != "8080" {
		t.Errorf("http_pub %q http_port %v", pub, o["http_port"])
	}
	if m := sb.marketplace(t); !m[slices.IndexFunc(m, func(x marketServer) bool { return x.ID == s.ID })].Rented {
		t.Error("rented server not marked rented in marketplace")
	}

	sb.clock.Advance(time.Hour - 21*time.Second)
	o = sb.orders(t, false)[0]
	if spend := o["spend"].(float64); math.Abs(spend-price/24) > 1e-9 {
		t.Errorf("spend after 1h = %v, want %v", spend, price/24)
	}
	if got, want := sb.balance(t, currencyUSD), 500-0.1-price/24; math.Abs(got-want) > 1e-6 {
		t.Errorf("balance %v, want %v", got, want)
	}
}

// checkOrderKeys compares an order's keys with the captured raw order.
func checkOrderKeys(t *testing.T, o map[string]any) {
	t.Helper()
	raw, err := os.ReadFile("testdata/my-orders-sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample map[string]any
	if err := json.Unmarshal(raw, &sample); err != nil {
		t.Fatal(err)
	}
	for k := range sample {
		if _, ok := o[k]; !ok {
			t.Errorf("order lacks key %q of the real order", k)
		}
	}
	for k := range o {
		if _, ok := sample[k]; !ok {
			t.Errorf("order has key %q the real on-demand order lacks", k)
		}
	}
}

func TestCreateOrderErrors(t *testing.T) {
	t.Parallel()
	type setup func(t *testing.T, sb *sandbox) map[string]any
	free := func(t *testing.T, sb *sandbox) map[string]any { return orderBody(sb.freeServer(t, currencyUSD, "").ID) }
	with := func(k string, v any) setup {
		return func(t *testing.T, sb *sandbox) map[string]any {
			b := free(t, sb)
			b[k] = v
			return b
		}
	}
	tests := []struct {
		name       string
		opts       Options
		body       setup
		raw        string // sent instead of body when set
		wantStatus int
		wantCode   int
		wantError  string
	}{
		{name: "malformed JSON", raw: `{"renting_server":`, wantStatus: 400, wantCode: 2},
		{name: "not an object", raw: `[1,2]`, wantStatus: 400, wantCode: 2},
		{name: "missing renting_server", body: with("renting_server", nil), wantStatus: 400, wantCode: 2},
		{name: "renting_server wrong type", body: with("renting_server", "60017"), wantStatus: 400, wantCode: 2},
		{name: "unknown server", body: with("renting_server", 1), wantStatus: 200, wantCode: 6, wantError: "server-dont-exist"},
		{name: "bad type", body: with("type", "on_demand"), wantStatus: 400, wantCode: 2},
		{name: "unknown currency", body: with("currency", "usd"), wantStatus: 400, wantCode: 2},
		{name: "missing image", body: with("image", ""), wantStatus: 400, wantCode: 2},
		{name: "long ssh_password", body: with("ssh_password", strings.Repeat("a", 33)), wantStatus: 400, wantCode: 2},
		{name: "bad port type", body: with("ports", map[string]string{"22": "udp"}), wantStatus: 400, wantCode: 2},
		{name: "autossh_entrypoint string", body: with("autossh_entrypoint", "true"), wantStatus: 400, wantCode: 2},
		{name: "spot without spotprice", body: with("type", "spot"), wantStatus: 400, wantCode: 2},
		{
			name: "currency not allowed", wantStatus: 500, wantCode: 6, wantError: "currency-not-allowed",
			body: func(t *testing.T, sb *sandbox) map[string]any {
				for _, s := range sb.srv.market.servers {
					if s.hasUSD && !s.accepts(currencyUSD) {
						return orderBody(s.id)
					}
				}
				t.Fatal("no server with a USD price but USD not allowed")
				return nil
			},
		},
		{
			name: "server offline", wantStatus: 200, wantCode: 6, wantError: "server-offline",
			body: func(t *testing.T, sb *sandbox) map[string]any {
				for _, s := range sb.srv.market.servers {
					if s.offline && s.accepts(currencyUSD) {
						return orderBody(s.id)
					}
				}
				t.Fatal("no offline server")
				return nil
			},
		},
		{
			name: "rented by other", wantStatus: 200, wantCode: 6, wantError: "server-already-rented",
			body: func(t *testing.T, sb *sandbox) map[string]any {
				b := free(t, sb)
				sb.srv.RentByOther(b["renting_server"].(int64))
				return b
			},
		},
		{
			name: "rented by me", wantStatus: 200, wantCode: 6, wantError: "server-already-rented",
			body: func(t *testing.T, sb *sandbox) map[string]any {
				b := free(t, sb)
				if r := sb.post(t, "/v1/create_order", b); r.code() != 0 {
					t.Fatalf("first create: %s", r.raw)
				}
				return b
			},
		},
		{name: "lost race", opts: Options{RaceRate: 1}, body: free, wantStatus: 200, wantCode: 6, wantError: "server-already-rented"},
		{
			name: "spot bid too low", wantStatus: 200, wantCode: 6, wantError: "too_low_price",
			body: func(t *testing.T, sb *sandbox) map[string]any {
				b := free(t, sb)
				b["type"], b["spotprice"] = "spot", 0.001
				return b
			},
		},
		{
			name: "required price below current is an opaque code 1", wantStatus: 500, wantCode: 1,
			body: func(t *testing.T, sb *sandbox) map[string]any {
				s := sb.freeServer(t, currencyUSD, "")
				b := orderBody(s.ID)
				b["required_price"] = s.Price.OnDemand[currencyUSD] / 2
				return b
			},
		},
		{
			name: "required price above current is an opaque code 1", wantStatus: 500, wantCode: 1,
			body: func(t *testing.T, sb *sandbox) map[string]any {
				s := sb.freeServer(t, currencyUSD, "")
				b := orderBody(s.ID)
				b["required_price"] = s.Price.OnDemand[currencyUSD] * 2
				return b
			},
		},
		{
			name: "own server", wantStatus: 200, wantCode: 6, wantError: "cant_rent_from_yourself",
			body: func(t *testing.T, sb *sandbox) map[string]any {
				b := free(t, sb)
				sb.srv.OwnServer(b["renting_server"].(int64))
				return b
			},
		},
		{
			name: "server on GigaSPOT", wantStatus: 200, wantCode: 6, wantError: "machine-is-on-gigaspot",
			body: func(t *testing.T, sb *sandbox) map[string]any {
				b := free(t, sb)
				sb.srv.MoveToGigaspot(b["renting_server"].(int64))
				return b
			},
		},
		{
			name: "second spot order on a server", wantStatus: 200, wantCode: 6, wantError: "you_already_have_spot_order",
			body: func(t *testing.T, sb *sandbox) map[string]any {
				b := free(t, sb)
				b["type"], b["spotprice"] = "spot", 1000.0
				if r := sb.post(t, "/v1/create_order", b); r.code() != 0 {
					t.Fatalf("first spot order: %s", r.raw)
				}
				return b
			},
		},
		{
			name: "not enough balance", opts: Options{InitialBalances: map[string]float64{currencyUSD: 0.11}},
			body: free, wantStatus: 200, wantCode: 6, wantError: "not_enough_balance",
		},
		{name: "ampersand in env", body: with("env", map[string]string{"URL": "a=1&b=2"}), wantStatus: 500, wantCode: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t, tc.opts)
			var body any = tc.raw
			if tc.body != nil {
				body = tc.body(t, sb)
			}
			r := sb.post(t, "/v1/create_order", body)
			if r.status != tc.wantStatus || r.code() != tc.wantCode {
				t.Fatalf("got %d %s, want %d code %d", r.status, r.raw, tc.wantStatus, tc.wantCode)
			}
			if got, _ := r.body["error"].(string); tc.wantError != "" && got != tc.wantError || tc.wantCode == 2 && got == "" {
				t.Errorf("error %q, want %q", got, tc.wantError)
			}
			if _, hasStatus := r.body["status"]; hasStatus != (tc.wantError == "server-already-rented") {
				t.Errorf("status key present = %v in %s", hasStatus, r.raw)
			}
			if tc.name != "rented by me" && tc.wantError != "you_already_have_spot_order" && len(sb.orders(t, true)) != 0 {
				t.Error("a failed create_order stored an order")
			}
		})
	}
}

func TestCreateOrderSuccessVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(b map[string]any, s marketServer)
		wantTC string // tcp_ports once online
	}{
		{"required price equal", func(b map[string]any, s marketServer) { b["required_price"] = s.Price.OnDemand[currencyUSD] }, `[22:\d+]`},
		{"no ports", func(b map[string]any, _ marketServer) { delete(b, "ports") }, `[22:\d+]`},
		{"two tcp ports", func(b map[string]any, _ marketServer) {
			b["ports"] = map[string]string{"8888": "http", "22": "tcp", "5000": "tcp"}
		}, `[22:\d+ 5000:\d+]`},
		{"extra fields", func(b map[string]any, _ marketServer) {
			b["env"], b["command"], b["autossh_entrypoint"], b["whatever"] = map[string]string{"A": "b"}, "#!/bin/sh\necho", true, 1
		}, `[22:\d+]`},
		{"CLORE currency", func(b map[string]any, _ marketServer) { b["currency"] = currencyCLORE }, `[22:\d+]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t, Options{ProvisionDelay: -1})
			s := sb.freeServer(t, currencyUSD, "")
			b := orderBody(s.ID)
			tc.edit(b, s)
			if r := sb.post(t, "/v1/create_order", b); string(r.raw) != `{"code":0}` {
				t.Fatalf("create_order: %d %s", r.status, r.raw)
			}
			o := sb.orders(t, false)[0]
			if ports := fmt.Sprint(o["tcp_ports"]); !regexp.MustCompile(`^\` + tc.wantTC + `$`).MatchString(ports) {
				t.Errorf("tcp_ports %s, want %s", ports, tc.wantTC)
			}
			if o["currency"] == currencyCLORE && o["creation_fee"].(float64) < 50 {
				t.Errorf("CLORE creation fee %v", o["creation_fee"])
			}
		})
	}
}

func TestCancelOrder(t *testing.T) {
	sb := newSandbox(t, Options{})
	s := sb.freeServer(t, currencyUSD, "")
	price := s.Price.OnDemand[currencyUSD]
	if r := sb.post(t, "/v1/create_order", orderBody(s.ID)); r.code() != 0 {
		t.Fatalf("create: %s", r.raw)
	}
	id := sb.orders(t, false)[0]["id"]
	sb.clock.Advance(2 * time.Hour)

	if r := sb.post(t, "/v1/cancel_order", map[string]any{"id": id, "issue": "GPU fell off the bus"}); string(r.raw) != `{"code":0}` {
		t.Fatalf("cancel_order: %d %s", r.status, r.raw)
	}
	if n := len(sb.orders(t, false)); n != 0 {
		t.Errorf("%d active orders after cancel", n)
	}
	sb.clock.Advance(5 * time.Hour)
	all := sb.orders(t, true)
	if len(all) != 1 || all[0]["expired"] != true || all[0]["online"] != false {
		t.Fatalf("return_completed: %v", all)
	}
	want := price * 2 / 24
	if spend := all[0]["spend"].(float64); math.Abs(spend-want) > 1e-9 {
		t.Errorf("spend %v, want %v (stops at cancel)", spend, want)
	}
	if got := sb.balance(t, currencyUSD); math.Abs(got-(500-0.1-want)) > 1e-6 {
		t.Errorf("balance %v, want %v", got, 500-0.1-want)
	}
	if r := sb.post(t, "/v1/create_order", orderBody(s.ID)); r.code() != 0 {
		t.Errorf("rent again after cancel: %s", r.raw)
	}

	for _, tc := range []struct {
		name       string
		body       any
		wantStatus int
		wantCode   int
		wantError  string
	}{
		{"twice: the order already ended", map[string]any{"id": id}, 200, 6, "order_not_active"},
		{"unknown", map[string]any{"id": 42}, 200, 6, "order_dont_exist"},
		{"issue too long", map[string]any{"id": id, "issue": strings.Repeat("x", 2049)}, 200, 6, "issue_description_too_long"},
		{"missing id", map[string]any{}, 400, 2, ""},
		{"malformed", `{"id":`, 400, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sb.post(t, "/v1/cancel_order", tc.body)
			if r.status != tc.wantStatus || r.code() != tc.wantCode || r.body["error"] == "" ||
				tc.wantError != "" && r.body["error"] != tc.wantError {
				t.Errorf("got %d %s, want %d code %d %q", r.status, r.raw, tc.wantStatus, tc.wantCode, tc.wantError)
			}
		})
	}
}

func TestKeysAreSeparate(t *testing.T) {
	sb := newSandbox(t, Options{APIKey: anyKey})
	s := sb.freeServer(t, currencyUSD, "")
	if r := sb.call(t, http.MethodPost, "/v1/create_order", "alice", orderBody(s.ID)); r.code() != 0 {
		t.Fatalf("create: %s", r.raw)
	}
	alice := sb.call(t, http.MethodGet, "/v1/my_orders", "alice", nil)
	bob := sb.call(t, http.MethodGet, "/v1/my_orders", "bob", nil)
	if len(alice.body["orders"].([]any)) != 1 || len(bob.body["orders"].([]any)) != 0 {
		t.Fatalf("alice %s, bob %s", alice.raw, bob.raw)
	}
	id := alice.body["orders"].([]any)[0].(map[string]any)["id"]
	if r := sb.call(t, http.MethodPost, "/v1/cancel_order", "bob", map[string]any{"id": id}); r.code() != 6 || r.body["error"] != "you_dont_own_this_order" {
		t.Errorf("bob cancels alice's order: %s", r.raw)
	}
	if r := sb.call(t, http.MethodGet, "/v1/wallets", "bob", nil); !strings.Contains(string(r.raw), `"balance":500,`) {
		t.Errorf("bob's wallets: %s", r.raw)
	}
}

func TestOrderExpires(t *testing.T) {
	sb := newSandbox(t, Options{})
	s := sb.freeServer(t, currencyUSD, "")
	if r := sb.post(t, "/v1/create_order", orderBody(s.ID)); r.code() != 0 {
		t.Fatalf("create: %s", r.raw)
	}
	mrl := time.Duration(min(604800, s.MRL*3600)) * time.Second
	sb.clock.Advance(mrl + time.Second)
	if n := len(sb.orders(t, false)); n != 0 {
		t.Errorf("%d active orders after mrl", n)
	}
	all := sb.orders(t, true)
	if len(all) != 1 || all[0]["expired"] != true {
		t.Fatalf("completed orders: %v", all)
	}
	want := s.Price.OnDemand[currencyUSD] * mrl.Hours() / 24
	if spend := all[0]["spend"].(float64); math.Abs(spend-want) > 1e-6 {
		t.Errorf("spend %v, want %v", spend, want)
	}
}
