package sandbox

import (
	"bytes"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMarketplaceDeterministic(t *testing.T) {
	t.Parallel()
	a := newSandbox(t, Options{Seed: 7, DriftPerHour: 0.02, Servers: 2000})
	b := newSandbox(t, Options{Seed: 7, DriftPerHour: 0.02, Servers: 2000})
	c := newSandbox(t, Options{Seed: 8, DriftPerHour: 0.02, Servers: 2000})
	ra, rb, rc := a.get(t, "/v1/marketplace").raw, b.get(t, "/v1/marketplace").raw, c.get(t, "/v1/marketplace").raw
	if !bytes.Equal(ra, rb) {
		t.Error("same seed, same time: marketplace differs")
	}
	if !bytes.Equal(ra, a.get(t, "/v1/marketplace").raw) {
		t.Error("same server asked twice: marketplace differs")
	}
	if bytes.Equal(ra, rc) {
		t.Error("different seeds: marketplace is the same")
	}
}

// perGPU returns the USD/day per GPU of 1-GPU servers of a model.
func perGPU(servers []marketServer, gpu string) []float64 {
	var out []float64
	for _, s := range servers {
		if s.Specs.GPU == "1x "+gpu {
			out = append(out, s.Price.USD["on_demand_clore"])
		}
	}
	slices.Sort(out)
	return out
}

func TestMarketplaceShape(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, Options{DriftPerHour: 0.02, Servers: 2000})
	r := sb.get(t, "/v1/marketplace")
	if r.ctype != "application/json" || r.body["my_servers"] == nil {
		t.Fatalf("content type %q, my_servers %v", r.ctype, r.body["my_servers"])
	}
	servers := sb.marketplace(t)
	if len(servers) != 2000 {
		t.Fatalf("servers = %d, want 2000", len(servers))
	}
	models := map[string]bool{}
	var rented, usdNotAllowed, stringPCIe, arrayOC int
	for i, s := range servers {
		if i > 0 && s.ID <= servers[i-1].ID || s.ID < 60000 {
			t.Fatalf("server ids not ascending from 60000: %d after %d", s.ID, servers[i-1].ID)
		}
		checkServer(t, s)
		_, model, _ := strings.Cut(s.Specs.GPU, "x ")
		models[model] = true
		if s.Rented {
			rented++
		}
		if _, priced := s.Price.OnDemand[currencyUSD]; priced && !contains(s.AllowedCoins, currencyUSD) {
			usdNotAllowed++
		}
		if strings.HasPrefix(string(s.Specs.PCIeRev), `"`) {
			stringPCIe++
		}
		if strings.HasPrefix(string(s.Specs.StockOC), `[`) {
			arrayOC++
		}
	}
	if len(models) < 20 {
		t.Errorf("%d GPU models, want >= 20: %v", len(models), models)
	}
	within(t, "rented share", float64(rented)/2000, 0.08, 0.25)
	within(t, "USD priced but not allowed share", float64(usdNotAllowed)/2000, 0.01, 0.08)
	if stringPCIe == 0 || arrayOC == 0 {
		t.Errorf("string pcie_rev %d, array stock_oc %d: want some of each", stringPCIe, arrayOC)
	}
	for _, tc := range []struct {
		gpu      string
		min, max float64
	}{
		{"NVIDIA GeForce RTX 3060", 0.8, 1.7},
		{"NVIDIA GeForce RTX 3090", 2.3, 4},
		{"NVIDIA GeForce RTX 4090", 6.5, 10},
		{"NVIDIA GeForce RTX 5090", 11, 17},
	} {
		prices := perGPU(servers, tc.gpu)
		if len(prices) < 10 {
			t.Errorf("%s: only %d 1-GPU servers", tc.gpu, len(prices))
			continue
		}
		within(t, tc.gpu+" median USD/day", prices[len(prices)/2], tc.min, tc.max)
	}
}

// checkServer checks one server's fields and price consistency.
func checkServer(t *testing.T, s marketServer) {
	t.Helper()
	n, _, _ := strings.Cut(s.Specs.GPU, "x ")
	count, err := strconv.Atoi(n)
	if err != nil || len(s.GPUArray) != count {
		t.Fatalf("server %d: gpu %q vs gpu_array %q", s.ID, s.Specs.GPU, s.GPUArray)
	}
	for _, g := range s.GPUArray {
		if !strings.HasPrefix(g, " ") || strings.Contains(g, "NVIDIA") {
			t.Fatalf("server %d: gpu_array entry %q", s.ID, g)
		}
	}
	if len(s.AllowedCoins) == 0 || s.Reliability <= 0 || s.Reliability > 1 || s.Owner <= 0 || s.MRL <= 0 {
		t.Fatalf("server %d: allowed %v reliability %v owner %d mrl %d", s.ID, s.AllowedCoins, s.Reliability, s.Owner, s.MRL)
	}
	for _, c := range s.AllowedCoins {
		od, sp := s.Price.OnDemand[c], s.Price.Spot[c]
		if od <= 0 || sp <= 0 || sp >= od {
			t.Fatalf("server %d %s: on-demand %v spot %v", s.ID, c, od, sp)
		}
	}
	usd := s.Price.USD["on_demand_clore"]
	if clore := s.Price.OnDemand[currencyCLORE]; math.Abs(clore*usdPerCLORE-usd) > 0.01 {
		t.Fatalf("server %d: %v CLORE is not %v USD", s.ID, clore, usd)
	}
	if v, ok := s.Price.OnDemand[currencyUSD]; ok && math.Abs(v-usd) > 0.01 {
		t.Fatalf("server %d: USD price %v, CLORE equivalent %v", s.ID, v, usd)
	}
	if v, ok := s.Price.OnDemand[currencyBTC]; ok && math.Abs(v*usdPerBTC-usd) > 0.01+usd*0.01 {
		t.Fatalf("server %d: %v BTC is not %v USD", s.ID, v, usd)
	}
	if sp := s.Price.USD["spot"]; sp < usd*0.45 || sp > usd*0.75 {
		t.Fatalf("server %d: usd spot %v for on-demand %v", s.ID, sp, usd)
	}
}

// within fails unless min <= v <= max.
func within(t *testing.T, what string, v, min, max float64) {
	t.Helper()
	if v < min || v > max {
		t.Errorf("%s = %.4f, want within [%v, %v]", what, v, min, max)
	}
}

func TestPriceDrift(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		drift       float64
		minChanged  float64 // share of servers whose price changed in 6 h
		maxRelative float64 // largest relative change allowed
	}{
		{"static", 0, 0, 0},
		{"drifting", 0.02, 0.5, 6 * 0.02 / (1 - 0.02*48/(2*math.Pi))}, // slope bound, relative to a price at the trough
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t, Options{DriftPerHour: tc.drift})
			before := sb.marketplace(t)
			sb.clock.Advance(6 * time.Hour)
			after := sb.marketplace(t)
			changed := 0
			for i := range before {
				p0, p1 := before[i].Price.OnDemand[currencyCLORE], after[i].Price.OnDemand[currencyCLORE]
				if p0 != p1 {
					changed++
				}
				if rel := math.Abs(p1-p0) / p0; rel > tc.maxRelative+0.02/p0 {
					t.Fatalf("server %d: %v -> %v in 6h", before[i].ID, p0, p1)
				}
			}
			share := float64(changed) / float64(len(before))
			if tc.drift == 0 && changed != 0 || tc.drift > 0 && share < tc.minChanged {
				t.Errorf("%d of %d prices changed", changed, len(before))
			}
		})
	}
}

func TestMarketplaceRentedChangesSlowly(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, Options{})
	before := sb.marketplace(t)
	sb.clock.Advance(time.Minute)
	same := sb.marketplace(t)
	sb.clock.Advance(24 * time.Hour)
	later := sb.marketplace(t)
	var flipsMinute, flipsDay int
	for i := range before {
		if before[i].Rented != same[i].Rented {
			flipsMinute++
		}
		if before[i].Rented != later[i].Rented {
			flipsDay++
		}
	}
	if flipsMinute > 10 || flipsDay < 50 {
		t.Errorf("rented flips: %d in a minute, %d in a day", flipsMinute, flipsDay)
	}
}

func BenchmarkMarketplace(b *testing.B) {
	m, err := newMarket(1, 2000, 0.02)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	busy := map[int64]bool{m.servers[10].id: true}
	b.ReportAllocs()
	for b.Loop() {
		body := m.renderMarketplace(now, busy, nil)
		b.SetBytes(int64(len(body)))
	}
}

func BenchmarkMarketplaceHTTP(b *testing.B) {
	srv, err := New(Options{StatePath: b.TempDir() + "/state.db", DriftPerHour: 0.02})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, "/v1/marketplace", nil)
	req.Header.Set("auth", testKey)
	b.ReportAllocs()
	for b.Loop() {
		w := &discardWriter{header: http.Header{}}
		srv.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := newMarket(1, 2000, 0.02); err != nil {
			b.Fatal(err)
		}
	}
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
