package clore

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestDecodeCapturedOrder(t *testing.T) {
	var capture struct {
		Sample json.RawMessage `json:"sample"`
	}
	readFixture(t, "gpuvietnam__clore-my-orders-sample.json", &capture)
	_, c := newFake(t, fakeAnswer{200, `{"orders":[` + string(capture.Sample) + `],"code":0}`})
	orders, err := c.MyOrders(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	o := orders[0]
	if o.ID != 1939941 || o.ServerID != 88028 || o.Currency != CurrencyUSD || o.Price != 2 || o.MRL != 604800 ||
		!o.Online || o.TCPPorts[0] != "22:1972" || o.PubCluster[0] != "n1.us.clorecloud.net" ||
		o.HTTPPort != "8080" || o.HTTPPub != "2q8138x0hvvzh.us.clorecloud.net" || o.CreatedUnix != 1783703890 ||
		o.Specs.PCIeRev != 3 || o.Specs.Net.CC != "US" || o.Rating.Cnt != 44 || o.Spot || o.Expired {
		t.Errorf("decoded order = %+v", o)
	}
	if model, n := ParseGPU(o.Specs.GPU, o.GPUArray, o.Specs.GPURAM); model != "RTX 3090" || n != 1 {
		t.Errorf("GPU = %q x%d", model, n)
	}
}

func TestDecodeLenientServerFields(t *testing.T) {
	body := `{"code":0,"servers":[
	 {"id":1,"specs":{"gpu":"2x NVIDIA GeForce RTX 5090","gpuram":31,"pcie_rev":"4.0","stock_oc":"default","net":{"cc":"DE"}},
	  "gpu_array":[" RTX 5090"," RTX 5090"],"price":{"on_demand":{"USD-Blockchain":24}},"allowed_coins":["USD-Blockchain"]},
	 {"id":2,"specs":{"gpu":"1x NVIDIA A100-SXM4-80GB","gpuram":80.0,"pcie_rev":4,"stock_oc":[{"model":"x","core_offset":0}]},
	  "cuda_version":12.4,"mrl":"96"},
	 {"id":3,"gpu_array":["  RTX 4090"]},
	 {"id":4,"specs":{"stock_oc":null,"pcie_rev":null}}
	]}`
	_, c := newFake(t, fakeAnswer{200, body})
	servers, err := c.Marketplace(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 4 {
		t.Fatalf("%d servers", len(servers))
	}
	s := servers
	if s[0].Specs.PCIeRev != 4 || !s[0].Specs.StockOC.Default || s[1].Specs.PCIeRev != 4 ||
		len(s[1].Specs.StockOC.Settings) != 1 || s[1].CUDAVersion != "12.4" || s[1].MRL != 96 {
		t.Errorf("lenient fields: %+v / %+v", s[0].Specs, s[1])
	}
	offers := Offers(servers)
	want := []struct {
		model string
		count int
	}{{"RTX 5090", 2}, {"A100 80GB", 1}, {"RTX 4090", 1}, {"", 1}}
	for i, w := range want {
		if offers[i].Model != w.model || offers[i].GPUCount != w.count {
			t.Errorf("offer %d = %q x%d, want %q x%d", i, offers[i].Model, offers[i].GPUCount, w.model, w.count)
		}
	}
	if got := offers[0].OnDemandUSDPerHour; math.Abs(got-1.1) > 1e-9 {
		t.Errorf("USD/h = %v, want 1.1 (24 USD/day + 10%% renter fee)", got)
	}
	if got := offers[0].PerGPU(offers[0].OnDemandUSDPerHour); math.Abs(got-0.55) > 1e-9 {
		t.Errorf("per GPU = %v", got)
	}
}

func TestCapturedGPUFragments(t *testing.T) {
	var capture struct {
		Samples []struct {
			GPU      string   `json:"gpu"`
			GPUArray []string `json:"gpu_array"`
			GPURAM   float64  `json:"gpuram"`
		} `json:"samples"`
	}
	readFixture(t, "gpuvietnam__clore-5090-classify-debug.json", &capture)
	if len(capture.Samples) == 0 {
		t.Fatal("no samples")
	}
	for _, s := range capture.Samples {
		model, n := ParseGPU(s.GPU, s.GPUArray, s.GPURAM)
		if model != "RTX 5090" || n != len(s.GPUArray) {
			t.Errorf("%q %q -> %q x%d", s.GPU, s.GPUArray, model, n)
		}
		if model2, _ := ParseGPU("", s.GPUArray, s.GPURAM); model2 != "RTX 5090" {
			t.Errorf("gpu_array %q -> %q", s.GPUArray, model2)
		}
	}
}

// The captured price blocks: per day, USD-Blockchain is USD, the others convert
// through price.usd; the documented 10% renter fee comes on top.
func TestCapturedPrices(t *testing.T) {
	var capture struct {
		SampleNoUsd []struct {
			ID         int64    `json:"id"`
			DailyUSD   float64  `json:"dailyUsd"`
			Currencies []string `json:"currencies"`
			OnDemand   Pricing  `json:"on_demand"`
			USD        USDPrice `json:"usd"`
		} `json:"sampleNoUsd"`
	}
	readFixture(t, "gpuvietnam__clore-step01-currency.json", &capture)
	for _, s := range capture.SampleNoUsd {
		o := NewOffer(&Server{ID: s.ID, AllowedCoins: s.Currencies, Price: ServerPrice{OnDemand: s.OnDemand, USD: s.USD}})
		if want := s.DailyUSD * 1.1 / 24; math.Abs(o.OnDemandUSDPerHour-want) > 1e-9 {
			t.Errorf("server %d: %v USD/h, want %v", s.ID, o.OnDemandUSDPerHour, want)
		}
		if got := o.OnDemandUSDPerDay[CurrencyCLORE]; math.Abs(got-s.USD.OnDemandCLORE*1.1) > 1e-9 {
			t.Errorf("server %d CLORE in USD = %v", s.ID, got)
		}
	}
}

func TestCapturedErrorBodies(t *testing.T) {
	var diag struct {
		Results []struct {
			Status  int             `json:"status"`
			Payload json.RawMessage `json:"payload"`
		} `json:"results"`
	}
	readFixture(t, "gpuvietnam__clore-code1-diag.json", &diag)
	for _, r := range diag.Results {
		_, c := newFake(t, fakeAnswer{r.Status, string(r.Payload)})
		err := c.CreateOrder(context.Background(), CreateOrderRequest{RentingServer: 71031})
		if !errors.Is(err, ErrCurrencyNotAllowed) {
			t.Errorf("HTTP %d %s -> %v", r.Status, r.Payload, err)
		}
	}
}

func TestCanonicalGPU(t *testing.T) {
	tests := []struct {
		in   string
		mem  float64
		want string
	}{
		{"NVIDIA GeForce RTX 4090", 24, "RTX 4090"},
		{" RTX 3090", 24, "RTX 3090"},
		{"NVIDIA GeForce RTX 4070 Ti SUPER", 16, "RTX 4070 Ti Super"},
		{"NVIDIA GeForce RTX 5070 Ti", 16, "RTX 5070 Ti"},
		{"NVIDIA GeForce GTX 1080 Ti", 11, "GTX 1080 Ti"},
		{"NVIDIA GeForce GTX 1070", 8, "GTX 1070"},
		{"NVIDIA A100-SXM4-80GB", 80, "A100 80GB"},
		{"NVIDIA A100 80GB PCIe", 80, "A100 80GB"},
		{"NVIDIA A100-PCIE-40GB", 40, "A100 40GB"},
		{"A100", 80, "A100 80GB"},
		{"NVIDIA H100 80GB HBM3", 80, "H100 SXM"},
		{"NVIDIA H100 PCIe", 80, "H100 PCIe"},
		{"NVIDIA H100 NVL", 94, "H100 NVL"},
		{"NVIDIA RTX A6000", 48, "RTX A6000"},
		{"NVIDIA RTX A4000", 16, "RTX A4000"},
		{"NVIDIA RTX 6000 Ada Generation", 48, "RTX 6000 Ada"},
		{"NVIDIA L40S", 48, "L40S"},
		{"NVIDIA L40", 48, "L40"},
		{"NVIDIA L4", 24, "L4"},
		{"NVIDIA A40", 48, "A40"},
		{"Tesla V100-SXM2-16GB", 16, "V100"},
		{"Mixed GPUs", 0, "Mixed GPUs"},
		{"Some Future GPU", 0, "Some Future GPU"},
		{"", 0, ""},
		// A host's name is shown in chat: control and format characters go
		// (clorebot's own chat marks are C1 controls), line breaks become spaces.
		{"Evil\u0091@slack:UADMIN\u0092 GPU\u200b", 0, "Evil@slack:UADMIN GPU"},
		{"two\nlines\tGPU", 0, "two lines GPU"},
	}
	for _, tt := range tests {
		if got := CanonicalGPU(tt.in, tt.mem); got != tt.want {
			t.Errorf("CanonicalGPU(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSpotPriceInUSD(t *testing.T) {
	s := Server{AllowedCoins: []string{CurrencyCLORE, CurrencyBTC}, Price: ServerPrice{
		OnDemand: Pricing{CurrencyCLORE: 8000, CurrencyBTC: 0.00016},
		Spot:     Pricing{CurrencyCLORE: 4000},
		USD:      USDPrice{OnDemandCLORE: 10, OnDemandBTC: 10.4},
	}}
	o := NewOffer(&s)
	if math.Abs(o.SpotUSDPerHour-5*1.025/24) > 1e-9 {
		t.Errorf("spot = %v USD/h, want %v (2.5%% renter fee)", o.SpotUSDPerHour, 5*1.025/24)
	}
	if math.Abs(o.OnDemandUSDPerHour-10*1.1/24) > 1e-9 {
		t.Errorf("on-demand = %v USD/h", o.OnDemandUSDPerHour)
	}
	if o.Accepts(CurrencyUSD) || !o.Accepts(CurrencyCLORE) {
		t.Error("Accepts")
	}
}
