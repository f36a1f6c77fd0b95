package clore

import (
	"context"
	"math"
	"testing"
	"time"
)

// capturedOffers are the offers of the five servers whose price.on_demand and
// price.usd blocks were captured live (gpuvietnam__clore-step01-currency.json).
func capturedOffers(t *testing.T) []Offer {
	t.Helper()
	var capture struct {
		Samples []struct {
			ID       int64    `json:"id"`
			Coins    []string `json:"currencies"`
			OnDemand Pricing  `json:"on_demand"`
			USD      USDPrice `json:"usd"`
		} `json:"sampleNoUsd"`
	}
	readFixture(t, "gpuvietnam__clore-step01-currency.json", &capture)
	if len(capture.Samples) < 5 {
		t.Fatalf("fixture has %d samples", len(capture.Samples))
	}
	servers := make([]Server, 0, len(capture.Samples))
	for _, s := range capture.Samples {
		servers = append(servers, Server{ID: s.ID, AllowedCoins: s.Coins,
			Price: ServerPrice{OnDemand: s.OnDemand, USD: s.USD}})
	}
	return Offers(servers)
}

// USDRate is Clore's exchange rate, without the renter fee that the
// OnDemandUSDPerDay / OnDemandPerDay ratio (what the wallet valuation used)
// carries.
func TestUSDRateLeavesTheFeeOut(t *testing.T) {
	offers := capturedOffers(t)
	tests := []struct {
		currency string
		want     float64 // from the captured figures: on_demand_<x> / on_demand[x]
	}{
		{CurrencyBTC, 10.008412265972295 / 0.00015609},
		{CurrencyCLORE, 10.00007644942219 / 8002.07},
		{CurrencyUSD, 1},
	}
	for _, tt := range tests {
		got, ok := USDRate(offers, tt.currency)
		if !ok || math.Abs(got-tt.want) > tt.want*2e-4 {
			t.Errorf("USDRate(%s) = %v, %v; want %v", tt.currency, got, ok, tt.want)
		}
		if tt.currency == CurrencyUSD {
			continue
		}
		o := offers[0]
		withFee := o.OnDemandUSDPerDay[tt.currency] / o.OnDemandPerDay[tt.currency]
		if ratio := withFee / got; math.Abs(ratio-(1+DefaultOnDemandFee)) > 2e-4 {
			t.Errorf("%s: the fee-inclusive ratio is %v times USDRate, want %v", tt.currency, ratio, 1+DefaultOnDemandFee)
		}
	}
}

// The median ignores a host whose figures are off; without offers pricing
// in a currency there is no rate.
func TestUSDRateMedianAndUnknown(t *testing.T) {
	offers := capturedOffers(t)
	odd := NewOffer(&Server{ID: 9, Price: ServerPrice{
		OnDemand: Pricing{CurrencyBTC: 0.0001}, USD: USDPrice{OnDemandBTC: 1000}}})
	base, _ := USDRate(offers, CurrencyBTC)
	got, ok := USDRate(append(offers, odd, odd), CurrencyBTC)
	if !ok || math.Abs(got-base) > base*2e-4 {
		t.Errorf("with two outliers among seven: %v, want about %v", got, base)
	}
	for _, tt := range []struct {
		offers   []Offer
		currency string
	}{
		{nil, CurrencyBTC},
		{offers, "dogecoin"},
		{[]Offer{NewOffer(&Server{ID: 1, Price: ServerPrice{OnDemand: Pricing{CurrencyUSD: 5}}})}, CurrencyCLORE},
	} {
		if r, ok := USDRate(tt.offers, tt.currency); ok || r != 0 {
			t.Errorf("USDRate(%d offers, %s) = %v, %v; want 0, false", len(tt.offers), tt.currency, r, ok)
		}
	}
}

// Configured fallback rates price offers while /renter_fees has not
// answered, and the currencies it does not state afterwards.
func TestFallbackFees(t *testing.T) {
	body := `{"servers":[{"id":5,"price":{"on_demand":{"USD-Blockchain":24},"spot":{"USD-Blockchain":12}},
		"allowed_coins":["USD-Blockchain"]}],"code":0}`
	f, _ := newFake(t, fakeAnswer{200, body})
	c := New(Options{BaseURL: f.url, APIKey: "k", Interval: time.Millisecond, FeeRefresh: -1,
		FallbackFees: &FeeRates{OnDemand: 0.05, Spot: 0.0125}})
	servers, err := c.Marketplace(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o := NewOffer(&servers[0])
	if !near(o.OnDemandUSDPerHour, 24*1.05/24) || !near(o.SpotUSDPerHour, 12*1.0125/24) {
		t.Errorf("offer at %v / %v USD/h, want the configured 5%% / 1.25%%", o.OnDemandUSDPerHour, o.SpotUSDPerHour)
	}
	if fees := c.Fees(); !near(fees.Rate(CurrencyBTC, false), 0.05) || !near(fees.Rate(CurrencyBTC, true), 0.0125) {
		t.Errorf("client fees = %+v", fees)
	}

	feeAnswer := `{"renter_fees":{"on_demand":{"base":{"USD-Blockchain":8}},"spot":{"base":{}}},"code":0}`
	ff, _ := newFake(t, fakeAnswer{200, feeAnswer})
	fc := New(Options{BaseURL: ff.url, APIKey: "k", Interval: time.Millisecond, FeeRefresh: -1,
		FallbackFees: &FeeRates{OnDemand: 0.05, Spot: 0.0125}})
	stated, err := fc.RenterFees(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !near(stated.Rate(CurrencyUSD, false), 0.08) || !near(stated.Rate(CurrencyCLORE, false), 0.05) ||
		!near(stated.Rate(CurrencyUSD, true), 0.0125) {
		t.Errorf("stated rates with fallback = %v %v %v", stated.Rate(CurrencyUSD, false),
			stated.Rate(CurrencyCLORE, false), stated.Rate(CurrencyUSD, true))
	}

	for _, bad := range []*FeeRates{nil, {OnDemand: 1, Spot: 0.1}, {OnDemand: 0.1, Spot: -0.1}} {
		c := New(Options{BaseURL: f.url, FeeRefresh: -1, FallbackFees: bad})
		if fees := c.Fees(); !near(fees.Rate(CurrencyUSD, false), DefaultOnDemandFee) || !near(fees.Rate(CurrencyUSD, true), DefaultSpotFee) {
			t.Errorf("FallbackFees %+v: rates %+v, want the documented ones", bad, fees)
		}
	}
	zero := New(Options{BaseURL: f.url, FeeRefresh: -1, FallbackFees: &FeeRates{}})
	if fees := zero.Fees(); fees.Rate(CurrencyUSD, false) != 0 || fees.Rate(CurrencyUSD, true) != 0 {
		t.Errorf("a configured zero fee is not kept: %+v", fees)
	}
}
