package main

import (
	"testing"
	"time"

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

// In sandbox mode a provisioning order is polled at a quarter of
// sandbox.provision_delay, never more often than every 100 ms nor less
// often than every 2 s (the default delay of 20 s keeps 2 s).
func TestSandboxPollInterval(t *testing.T) {
	for delay, want := range map[time.Duration]time.Duration{
		20 * time.Second: 2 * time.Second, time.Hour: 2 * time.Second, 4 * time.Second: time.Second,
		300 * time.Millisecond: 100 * time.Millisecond, 0: 100 * time.Millisecond, -time.Second: 100 * time.Millisecond,
	} {
		if got := sandboxPollInterval(delay); got != want {
			t.Errorf("provision delay %s: poll every %s, want %s", delay, got, want)
		}
	}
}
