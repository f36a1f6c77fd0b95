package clore

import (
	"context"
	"math"
	"testing"

	"github.com/clorebot/clorebot/clore/sandbox"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The account's rates through the sandbox's /renter_fees: the documented
// base, less the Proof-of-Holding reduction (up to half at 2,000,000 CLORE).
func TestRenterFeesThroughSandbox(t *testing.T) {
	tests := []struct {
		poh            float64
		onDemand, spot float64
	}{
		{0, 0.10, 0.025},
		{1_000_000, 0.075, 0.01875},
		{2_000_000, 0.05, 0.0125},
		{9_000_000, 0.05, 0.0125},
	}
	for _, tt := range tests {
		sb := newSandbox(t, sandbox.Options{Servers: 20, PoHBalance: tt.poh})
		f, err := newTestClient(sb.url).RenterFees(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, cur := range []string{CurrencyUSD, CurrencyCLORE, CurrencyBTC} {
			if !near(f.Rate(cur, false), tt.onDemand) || !near(f.Rate(cur, true), tt.spot) {
				t.Errorf("PoH %v, %s: rates %v / %v, want %v / %v", tt.poh, cur, f.Rate(cur, false), f.Rate(cur, true), tt.onDemand, tt.spot)
			}
		}
		if fee, ok := f.Creation(CurrencyUSD, false); !ok || fee != 0.1 || !f.FromClore {
			t.Errorf("creation fee %v %v, from Clore %v", fee, ok, f.FromClore)
		}
	}
}

// Offers from Client.Marketplace carry the account's fees from the second
// call on (the first, which the first snapshot waits for, makes one call and
// prices with the documented base rates); renter_fees is asked once, not at
// every marketplace call.
func TestMarketplaceOffersIncludeAccountFees(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{Servers: 50, PoHBalance: 2_000_000})
	c := newTestClient(sb.url)
	c.feeCache.every = DefaultFeeRefresh
	ctx := context.Background()
	servers, err := c.Marketplace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sb.Requests()); n != 1 {
		t.Errorf("first marketplace call made %d requests, want 1", n)
	}
	for _, o := range Offers(servers) {
		if base := o.OnDemandPerDay[CurrencyUSD]; base > 0 && !near(o.USDPerHour(CurrencyUSD, base, false), base*1.1/24) {
			t.Fatalf("first snapshot: server %d not at the documented 10%% fee", o.ServerID)
		}
	}
	for range 3 {
		servers, err := c.Marketplace(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range Offers(servers) {
			base := o.OnDemandPerDay[CurrencyUSD]
			if base == 0 || !o.Accepts(CurrencyUSD) {
				continue
			}
			if got := o.USDPerHour(CurrencyUSD, base, false); !near(got, base*1.05/24) {
				t.Fatalf("server %d: %v USD/h, want %v (5%% fee with full PoH)", o.ServerID, got, base*1.05/24)
			}
			if o.OnDemandUSDPerHour > base*1.05/24+1e-9 {
				t.Fatalf("server %d: shown %v above the USD price with fee", o.ServerID, o.OnDemandUSDPerHour)
			}
		}
	}
	n := 0
	for _, r := range sb.Requests() {
		if r.Endpoint == "renter_fees" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("renter_fees asked %d times, want once", n)
	}
}

// When renter_fees fails, the marketplace still answers and offers carry the
// documented base rates; the failure is tried again only later.
func TestMarketplaceWithoutRenterFees(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{Servers: 50})
	sb.InjectNext("renter_fees", 404, `{"code":4}`)
	c := newTestClient(sb.url)
	c.feeCache.every = DefaultFeeRefresh
	for range 3 {
		servers, err := c.Marketplace(context.Background())
		if err != nil {
			t.Fatalf("a failed renter_fees failed the marketplace: %v", err)
		}
		o := NewOffer(&servers[0])
		if servers[0].Fees == nil || servers[0].Fees.FromClore || !near(o.Fees.Rate(CurrencyUSD, false), DefaultOnDemandFee) {
			t.Fatalf("fees = %+v", servers[0].Fees)
		}
	}
	n := 0
	for _, r := range sb.Requests() {
		if r.Endpoint == "renter_fees" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("renter_fees asked %d times, want once (retried after %v)", n, feeRetry)
	}
}

// Rates read as percentages or fractions; nonsense falls back on the docs.
func TestFeeRatesFromAnswer(t *testing.T) {
	var r renterFeesResponse
	r.RenterFees.OnDemand.Base = Pricing{CurrencyUSD: 10, CurrencyCLORE: 0.08, CurrencyBTC: 70}
	r.RenterFees.Spot.Base = Pricing{CurrencyUSD: 2.5}
	f := r.fees()
	if !near(f.Rate(CurrencyUSD, false), 0.10) || !near(f.Rate(CurrencyCLORE, false), 0.08) ||
		!near(f.Rate(CurrencyBTC, false), DefaultOnDemandFee) || !near(f.Rate(CurrencyUSD, true), 0.025) ||
		!near(f.Rate(CurrencyCLORE, true), DefaultSpotFee) {
		t.Errorf("rates = %+v", f)
	}
	var none Fees
	if !near(none.Rate("x", false), DefaultOnDemandFee) || !near(none.Rate("x", true), DefaultSpotFee) {
		t.Error("zero Fees do not fall back on the documented rates")
	}
	o := NewOffer(&Server{ID: 1, Price: ServerPrice{OnDemand: Pricing{CurrencyUSD: 24}}})
	if got := o.CreationFeeUSD(CurrencyUSD, false); got != DefaultCreationFeeUSD {
		t.Errorf("creation fee = %v", got)
	}
}
