package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// orderJSON is one my_orders entry, keyed and ordered like the captured raw
// order (shared/fixtures/clore/gpuvietnam__clore-my-orders-sample.json),
// plus "spot" and "expired" when true.
type orderJSON struct {
	ID           int64           `json:"id"`
	CreationFee  float64         `json:"creation_fee"`
	Price        float64         `json:"price"`
	MRL          int64           `json:"mrl"`
	Image        string          `json:"image"`
	Currency     string          `json:"currency"`
	Spend        float64         `json:"spend"`
	CT           int64           `json:"ct"`
	Specs        json.RawMessage `json:"specs"`
	SI           int64           `json:"si"`
	MonContainer int             `json:"mon_container"`
	Online       bool            `json:"online"`
	PubCluster   []string        `json:"pub_cluster"`
	TCPPorts     []string        `json:"tcp_ports"`
	HTTPPort     string          `json:"http_port"`
	HTTPPub      string          `json:"http_pub"`
	Rating       rating          `json:"rating"`
	Reliability  float64         `json:"reliability"`
	Owner        int64           `json:"owner"`
	CUDAVersion  string          `json:"cuda_version"`
	GPUArray     []string        `json:"gpu_array"`
	Spot         bool            `json:"spot,omitempty"`
	Expired      bool            `json:"expired,omitempty"`
}

// myOrdersBody is the my_orders answer. An entry is an orderJSON, or a raw
// entry of AddOddOrders.
type myOrdersBody struct {
	Orders []any `json:"orders"`
	Code   int   `json:"code"`
}

// handleMyOrders serves GET /v1/my_orders[?return_completed=true]: active
// orders of the key, plus cancelled and expired ones when asked, after the
// entries of AddOddOrders and without the orders LagMyOrders or
// CreateCode1ButRent still hide.
func (s *Server) handleMyOrders(ctx context.Context, c call) answer {
	all, _ := strconv.ParseBool(c.query.Get("return_completed"))
	orders, err := s.store.ordersOfKey(ctx, c.keyHash)
	if err != nil {
		return internalError(err)
	}
	odd := s.quirks.oddEntries(all)
	out := make([]any, 0, len(odd)+len(orders))
	for _, raw := range odd {
		out = append(out, raw) // older than any order the sandbox made
	}
	for _, o := range orders {
		if (all || o.activeAt(c.now.UnixMilli())) && s.quirks.visible(o.ID, c.now) {
			out = append(out, s.renderOrder(o, c.now))
		}
	}
	return jsonAnswer(http.StatusOK, 0, myOrdersBody{Orders: out, Code: 0})
}

// renderOrder renders o at now. Until ProvisionDelay has passed the order is
// offline with empty pub_cluster, tcp_ports and http_pub.
func (s *Server) renderOrder(o order, now time.Time) orderJSON {
	nowMS := now.UnixMilli()
	j := orderJSON{
		ID: o.ID, CreationFee: o.CreationFee, Price: o.Price, MRL: o.MRLSeconds, Image: o.Image,
		Currency: o.Currency, Spend: o.spendAt(nowMS), CT: o.CreatedMS / 1000, Specs: json.RawMessage("{}"),
		SI: o.ServerID, PubCluster: []string{}, TCPPorts: []string{}, GPUArray: []string{},
		Spot: o.Spot, Expired: !o.activeAt(nowMS),
	}
	country := "US"
	if sv := s.market.byID[o.ServerID]; sv != nil {
		j.Specs, j.Rating, j.Reliability, j.Owner = sv.specs, sv.rating, sv.reliability, sv.owner
		j.CUDAVersion, j.GPUArray, country = sv.cuda, sv.gpuArray, sv.country
	}
	var ports map[string]string
	_ = json.Unmarshal([]byte(o.Ports), &ports) // written by newOrder; empty on damage
	_, j.HTTPPort, _ = parsePorts(ports)
	if j.Expired || nowMS < o.CreatedMS+s.opts.ProvisionDelay.Milliseconds() {
		return j
	}
	j.Online = true
	region := strings.ToLower(country)
	h := mix(uint64(s.opts.Seed), uint64(o.ID), 0x636f6e6e)
	j.PubCluster = []string{fmt.Sprintf("n%d.%s.clorecloud.net", 1+h%4, region)}
	j.TCPPorts = s.tcpPorts(o.ID, ports)
	if j.HTTPPort != "" {
		j.HTTPPub = proxyName(h) + "." + region + ".clorecloud.net"
	}
	return j
}

// tcpPorts maps the order's tcp ports ("22" when none were asked for) to
// deterministic public ports: "22:1972".
func (s *Server) tcpPorts(orderID int64, ports map[string]string) []string {
	var inner []int
	for p, kind := range ports {
		if n, err := strconv.Atoi(p); err == nil && kind == "tcp" {
			inner = append(inner, n)
		}
	}
	if len(inner) == 0 {
		inner = []int{22}
	}
	slices.Sort(inner)
	out := make([]string, 0, len(inner))
	for _, p := range inner {
		pub := 1000 + mix(uint64(s.opts.Seed), uint64(orderID), uint64(p))%59000
		out = append(out, fmt.Sprintf("%d:%d", p, pub))
	}
	return out
}

// proxyName returns a 13-character lowercase base-36 name like "2q8138x0hvvzh".
func proxyName(h uint64) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 13)
	for i := range b {
		if i == 7 {
			h = mix(h, 0, 0) // 36^13 needs more than 64 bits
		}
		b[i] = alphabet[h%36]
		h /= 36
	}
	return string(b)
}
