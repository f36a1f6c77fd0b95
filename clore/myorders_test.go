package clore

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// A my_orders answer with old entries in other shapes and undecodable ones
// still returns the decodable orders; the others are counted every time and
// logged once each, without their content.
func TestMyOrdersSkipsMalformedEntries(t *testing.T) {
	body, err := os.ReadFile("testdata/my-orders-odd-entries.json")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := newFake(t, fakeAnswer{200, string(body)})
	obs := &countingObserver{malformed: map[string]int{}, requests: map[string]int{}}
	var logs syncBuffer
	c := New(Options{BaseURL: f.url, APIKey: "k", Interval: time.Millisecond, FeeRefresh: -1,
		Observer: obs, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	for range 2 {
		orders, err := c.MyOrders(context.Background(), true)
		if err != nil {
			t.Fatalf("one odd order failed the list: %v", err)
		}
		var ids []int64
		for _, o := range orders {
			ids = append(ids, o.ID)
		}
		if !slices.Equal(ids, []int64{1512093, 1939941}) {
			t.Fatalf("orders = %v, want the legacy and the captured one", ids)
		}
		legacy := orders[0]
		if !slices.Equal(legacy.PubCluster, HostList{"n2.de.clorecloud.net"}) ||
			!slices.Equal(legacy.TCPPorts, PortList{"22:40123", "8888:40124"}) || !legacy.Expired || !legacy.Spot {
			t.Errorf("legacy order = %+v", legacy)
		}
		if live := orders[1]; !slices.Equal(live.TCPPorts, PortList{"22:1972"}) || live.PubCluster[0] != "n1.us.clorecloud.net" {
			t.Errorf("captured order = %+v", live)
		}
	}
	if got := obs.malformed["my_orders"]; got != 6 {
		t.Errorf("observer counted %d skipped orders, want 3 per call", got)
	}
	if got := c.SkippedEntries("my_orders"); got != 6 {
		t.Errorf("SkippedEntries = %d, want 6", got)
	}
	out := logs.String()
	if n := strings.Count(out, "entry skipped"); n != 3 {
		t.Errorf("%d log lines for 3 bad entries over 2 calls, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, `"order_id":1700002`) || !strings.Contains(out, `"endpoint":"my_orders"`) {
		t.Errorf("log does not name the bad order:\n%s", out)
	}
	if strings.Contains(out, "private-image") || strings.Contains(out, "registry.example") {
		t.Errorf("log shows an entry's content:\n%s", out)
	}
}

// Before entry-by-entry decoding, a single order with an object ct failed the
// whole call; now only an answer whose list itself is broken does.
func TestMyOrdersBrokenList(t *testing.T) {
	tests := []struct {
		body    string
		wantErr bool
		n       int
	}{
		{`{"orders":[{"id":5,"ct":{}},{"id":6,"ct":1}],"code":0}`, false, 1},
		{`{"orders":[],"code":0}`, false, 0},
		{`{"orders":null,"code":0}`, false, 0},
		{`{"code":0}`, false, 0},
		{`{"orders":"none","code":0}`, true, 0},
		{`{"orders":{"id":1},"code":0}`, true, 0},
	}
	for _, tt := range tests {
		_, c := newFake(t, fakeAnswer{200, tt.body})
		orders, err := c.MyOrders(context.Background(), true)
		if (err != nil) != tt.wantErr || len(orders) != tt.n {
			t.Errorf("%s: %d orders, err %v; want %d orders, error %v", tt.body, len(orders), err, tt.n, tt.wantErr)
		}
	}
}

// An error answer is still the typed error, whatever the orders list holds.
func TestMyOrdersErrorAnswer(t *testing.T) {
	_, c := newFake(t, fakeAnswer{429, `{"code":5}`})
	c.retries = 0
	if _, err := c.MyOrders(context.Background(), true); err == nil || !strings.Contains(err.Error(), "code 5") {
		t.Fatalf("err = %v, want the rate-limit error", err)
	}
}

func TestHostListShapes(t *testing.T) {
	tests := []struct {
		in   string
		want HostList
	}{
		{`["n1.us.clorecloud.net"]`, HostList{"n1.us.clorecloud.net"}},
		{`["n1.us.clorecloud.net", "", null, 3, "n2.us.clorecloud.net"]`, HostList{"n1.us.clorecloud.net", "n2.us.clorecloud.net"}},
		{`"n1.de.clorecloud.net"`, HostList{"n1.de.clorecloud.net"}},
		{`" n1.de.clorecloud.net "`, HostList{"n1.de.clorecloud.net"}},
		{`""`, nil},
		{`null`, nil},
		{`[]`, nil},
		{`17`, nil},
		{`{"host":"x"}`, nil},
	}
	for _, tt := range tests {
		var got HostList
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestPortListShapes(t *testing.T) {
	tests := []struct {
		in   string
		want PortList
	}{
		{`["22:1972"]`, PortList{"22:1972"}},
		{`["22:1972", "8888:2000"]`, PortList{"22:1972", "8888:2000"}},
		{`{"8888": "2000", "22": "1972"}`, PortList{"22:1972", "8888:2000"}},
		{`{"22": 1972}`, PortList{"22:1972"}},
		{`{"22/tcp": "1972"}`, PortList{"22:1972"}},
		{`{"22": "n1.de.clorecloud.net:1972"}`, PortList{"22:1972"}},
		{`{"22": null, "x": "1", "8888": ""}`, PortList{}},
		{`{}`, PortList{}},
		{`"22:1972"`, PortList{"22:1972"}},
		{`"1972"`, nil},
		{`null`, nil},
		{`true`, nil},
		{`[null, "22:1972", {}]`, PortList{"22:1972"}},
	}
	for _, tt := range tests {
		var got PortList
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// The lenient types encode as the plain lists that stored orders and
// machine-readable answers expect.
func TestOrderEncodesLists(t *testing.T) {
	var o Order
	if err := json.Unmarshal([]byte(`{"id":1,"pub_cluster":"h.example","tcp_ports":{"22":"5"}}`), &o); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"pub_cluster":["h.example"]`) || !strings.Contains(string(b), `"tcp_ports":["22:5"]`) {
		t.Errorf("encoded %s", b)
	}
}
