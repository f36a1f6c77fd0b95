package commands_test

import (
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/clore/sandbox"
	"github.com/clorebot/clorebot/commands"
)

func TestLowBalanceIsReportedOnceADay(t *testing.T) {
	t.Parallel()
	h := newHarness(t, smallMarket, func(o *sandbox.Options) {
		o.InitialBalances = map[string]float64{clore.CurrencyUSD: 3}
	})
	h.policy.LowBalanceUSD = 10
	clock := newFakeClock()
	svc := h.service(func(o *commands.Options) { o.Clock = clock })
	tick(t, svc)
	tick(t, svc)
	if n := len(h.eventsOf(t, "wallet.low_balance")); n != 1 {
		t.Fatalf("%d wallet.low_balance events, want 1", n)
	}
	clock.Advance(2 * time.Hour)
	tick(t, svc)
	if n := len(h.eventsOf(t, "wallet.low_balance")); n != 1 {
		t.Fatalf("%d events within a day, want 1", n)
	}
	// A restart does not reset the day: the outbox remembers it.
	later := h.service(func(o *commands.Options) { o.Clock = clock })
	tick(t, later)
	if n := len(h.eventsOf(t, "wallet.low_balance")); n != 1 {
		t.Fatalf("%d events after a restart within the day, want 1", n)
	}
	clock.Advance(23 * time.Hour)
	tick(t, later)
	if n := len(h.eventsOf(t, "wallet.low_balance")); n != 2 {
		t.Fatalf("%d events a day later, want 2", n)
	}
	if d := h.eventsOf(t, "wallet.low_balance")[0]; d["balance_usd"] != 3.0 {
		t.Fatalf("event data %v", d)
	}
}
