package sandbox

import (
	"context"
	"net/http"
)

// Renter fees as Clore documents them (docs.clore.ai/for-renters/on-demand-vs-spot):
// a base percentage of the price, reduced by up to half with Proof of Holding.
const (
	onDemandFeePercent = 10
	spotFeePercent     = 2.5
	pohMaxReductionPct = 50
	pohMaxAmount       = 2_000_000
)

// renterFeesBody is the answer of GET /renter_fees in the shape of the typed
// community client (clore-api.md §5.11). ASSUMPTION: base rates are
// percentages (10 for 10%); the real unit is not documented.
type renterFeesBody struct {
	RenterFees struct {
		OnDemand feeBase `json:"on_demand"`
		Spot     feeBase `json:"spot"`
	} `json:"renter_fees"`
	PoHConfig struct {
		MaxReductionPercent float64 `json:"max_reduction_percent"`
		MaxPoHAmount        float64 `json:"max_poh_amount"`
	} `json:"poh_config"`
	CreationFees struct {
		OnDemand map[string]float64 `json:"on_demand"`
		Spot     map[string]float64 `json:"spot"`
	} `json:"creation_fees"`
	PoHBalance float64 `json:"poh_balance"`
	Code       int     `json:"code"`
}

// feeBase is one order type's base rates per currency.
type feeBase struct {
	Base map[string]float64 `json:"base"`
}

// everyCurrency prices v in every currency alike (a rate, not an amount).
func everyCurrency(v float64) map[string]float64 {
	m := make(map[string]float64, 3)
	for _, c := range []string{currencyBTC, currencyCLORE, currencyUSD} {
		m[c] = v
	}
	return m
}

// creationFees is the creation fee in each currency.
func creationFees(usd float64) map[string]float64 {
	q := quoteUSD(usd)
	return map[string]float64{currencyBTC: q.btc, currencyCLORE: q.clore, currencyUSD: q.usd}
}

// handleRenterFees serves GET /v1/renter_fees.
func (s *Server) handleRenterFees(context.Context, call) answer {
	var b renterFeesBody
	b.RenterFees.OnDemand.Base = everyCurrency(onDemandFeePercent)
	b.RenterFees.Spot.Base = everyCurrency(spotFeePercent)
	b.PoHConfig.MaxReductionPercent, b.PoHConfig.MaxPoHAmount = pohMaxReductionPct, pohMaxAmount
	b.CreationFees.OnDemand = creationFees(creationFeeUSD)
	b.CreationFees.Spot = creationFees(creationFeeUSD)
	b.PoHBalance = s.opts.PoHBalance
	return jsonAnswer(http.StatusOK, 0, b)
}
