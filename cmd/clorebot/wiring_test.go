package main

import (
	"testing"

	"github.com/clorebot/clorebot/internal/config"
)

// clore.renter_fee_on_demand and clore.renter_fee_spot reach the Clore
// client's fallback rates unchanged, a configured 0 included.
func TestCloreFallbackFeesFromConfig(t *testing.T) {
	c := config.Defaults().Clore
	if got := cloreFallbackFees(c); got.OnDemand != 0.10 || got.Spot != 0.025 {
		t.Errorf("defaults map to %+v", got)
	}
	c.RenterFeeOnDemand, c.RenterFeeSpot = 0.05, 0
	if got := cloreFallbackFees(c); got.OnDemand != 0.05 || got.Spot != 0 {
		t.Errorf("0.05 / 0 map to %+v", got)
	}
}
