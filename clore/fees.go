package clore

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Clore's documented renter fees (docs.clore.ai/for-renters/on-demand-vs-spot):
// a percentage of the price, reduced by up to half with a full Proof of
// Holding, plus a one-time creation fee per order (0.1 USD observed). They
// apply until GET /renter_fees has told the account's own rates, unless
// Options.FallbackFees replaces them. Clore's newer host pages give half of
// these (the base fee split between host and renter): the higher is the safe
// side for a price cap.
const (
	DefaultOnDemandFee    = 0.10
	DefaultSpotFee        = 0.025
	DefaultCreationFeeUSD = 0.1
)

// maxFeeRate bounds a rate read from renter_fees: anything above it is taken
// for a misreading and replaced by the documented rate.
const maxFeeRate = 0.5

// FeeRates are renter fee rates, as fractions of the price (0.10 is 10 %),
// of on-demand and spot orders.
type FeeRates struct {
	OnDemand, Spot float64
}

// DefaultFeeRates are the documented base rates (DefaultOnDemandFee,
// DefaultSpotFee).
func DefaultFeeRates() FeeRates { return FeeRates{OnDemand: DefaultOnDemandFee, Spot: DefaultSpotFee} }

// valid reports whether both rates are fractions in [0, 1).
func (r FeeRates) valid() bool {
	return r.OnDemand >= 0 && r.OnDemand < 1 && r.Spot >= 0 && r.Spot < 1
}

// Fees are the renter fees Clore adds to a server's price: a fraction of the
// price per currency, and a one-time creation fee per order in each currency.
// A currency Clore did not state falls back to Fallback.
type Fees struct {
	OnDemand, Spot                 Pricing // fractions: 0.10 is 10%
	CreationOnDemand, CreationSpot Pricing // per order, in the currency
	// Fallback are the rates of a currency Clore did not state (all of them
	// until /renter_fees answers); nil means DefaultFeeRates. The client sets
	// it from Options.FallbackFees.
	Fallback *FeeRates
	// FromClore is set when the rates came from GET /renter_fees.
	FromClore bool
}

// DefaultFees are the documented base rates (no Proof-of-Holding reduction).
func DefaultFees() Fees { return Fees{} }

// Rate is the fee's fraction of a price paid in currency.
func (f *Fees) Rate(currency string, spot bool) float64 {
	fb := DefaultFeeRates()
	if f.Fallback != nil {
		fb = *f.Fallback
	}
	rates, def := f.OnDemand, fb.OnDemand
	if spot {
		rates, def = f.Spot, fb.Spot
	}
	if r, ok := rates[currency]; ok && r >= 0 && r <= maxFeeRate {
		return r
	}
	return def
}

// Creation is the one-time creation fee in currency; ok is false when Clore
// did not state it (callers then use DefaultCreationFeeUSD).
func (f *Fees) Creation(currency string, spot bool) (fee float64, ok bool) {
	fees := f.CreationOnDemand
	if spot {
		fees = f.CreationSpot
	}
	fee, ok = fees[currency]
	return fee, ok && fee >= 0
}

// renterFeesResponse is the answer of GET /renter_fees (shape from the typed
// community client; clore-api.md §5.11).
type renterFeesResponse struct {
	envelope
	RenterFees struct {
		OnDemand struct {
			Base Pricing `json:"base"`
		} `json:"on_demand"`
		Spot struct {
			Base Pricing `json:"base"`
		} `json:"spot"`
	} `json:"renter_fees"`
	PoHConfig struct {
		MaxReductionPercent float64 `json:"max_reduction_percent"`
		MaxPoHAmount        float64 `json:"max_poh_amount"`
	} `json:"poh_config"`
	CreationFees struct {
		OnDemand Pricing `json:"on_demand"`
		Spot     Pricing `json:"spot"`
	} `json:"creation_fees"`
	PoHBalance float64 `json:"poh_balance"`
}

// fees turns the answer into the account's effective rates: the base rate
// less the Proof-of-Holding reduction, which grows linearly with the balance
// up to max_reduction_percent at max_poh_amount.
//
// ASSUMPTION: Clore does not document whether `base` is a percentage (10) or
// a fraction (0.1). Values of 1 and above are read as percentages, smaller
// ones as fractions; either way the documented 10% reads right.
func (r *renterFeesResponse) fees() Fees {
	reduction := 0.0
	if p := r.PoHConfig; p.MaxReductionPercent > 0 && p.MaxPoHAmount > 0 && r.PoHBalance > 0 {
		reduction = min(r.PoHBalance/p.MaxPoHAmount, 1) * min(p.MaxReductionPercent, 100) / 100
	}
	rates := func(base Pricing) Pricing {
		out := make(Pricing, len(base))
		for c, v := range base {
			if v >= 1 {
				v /= 100
			}
			if v >= 0 {
				out[c] = v * (1 - reduction)
			}
		}
		return out
	}
	return Fees{
		OnDemand: rates(r.RenterFees.OnDemand.Base), Spot: rates(r.RenterFees.Spot.Base),
		CreationOnDemand: r.CreationFees.OnDemand, CreationSpot: r.CreationFees.Spot,
		FromClore: true,
	}
}

// RenterFees asks Clore for the account's renter fees (GET /renter_fees),
// Proof-of-Holding reduction applied.
func (c *Client) RenterFees(ctx context.Context) (Fees, error) {
	var r renterFeesResponse
	if err := c.call(ctx, call{method: http.MethodGet, endpoint: "renter_fees", safe: true}, &r); err != nil {
		return Fees{}, err
	}
	f := r.fees()
	f.Fallback = c.fallbackFees
	return f, nil
}

// feeCache keeps the account's fees between rare refreshes.
type feeCache struct {
	every  time.Duration // refresh period; <= 0 never fetches
	mu     sync.Mutex
	fees   Fees
	next   time.Time // earliest next fetch
	busy   bool      // a fetch is running
	primed bool      // the first marketplace call has gone by
}

// feeRetry is the pause after a failed renter_fees call.
const feeRetry = 10 * time.Minute

// Fees returns the fees offers are priced with now: the account's own once
// renter_fees has answered, the fallback rates (Options.FallbackFees, else the
// documented base rates) until then.
func (c *Client) Fees() Fees {
	c.feeCache.mu.Lock()
	defer c.feeCache.mu.Unlock()
	return c.feeCache.fees
}

// refreshFees fetches the account's fees when they are due: at the second
// marketplace call, then every FeeRefresh. The first call goes without, so
// that the first snapshot (which requests wait for) costs one Clore call; it
// is priced with the documented base rates, which Proof of Holding can only
// lower. A failure keeps the rates known so far and is tried again later; it
// never fails the caller. Concurrent callers do not wait for a running fetch.
func (c *Client) refreshFees(ctx context.Context) Fees {
	fc := &c.feeCache
	fc.mu.Lock()
	if !fc.primed {
		fc.primed = true
		defer fc.mu.Unlock()
		return fc.fees
	}
	if fc.every <= 0 || fc.busy || time.Now().Before(fc.next) {
		defer fc.mu.Unlock()
		return fc.fees
	}
	fc.busy = true
	fc.mu.Unlock()

	fees, err := c.RenterFees(WithPriority(ctx, Background))

	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.busy = false
	if err != nil {
		fc.next = time.Now().Add(min(feeRetry, fc.every))
		c.log.LogAttrs(ctx, slog.LevelWarn, "clore renter fees unknown, pricing with the last known rates",
			slog.Bool("documented_rates", !fc.fees.FromClore), slog.Any("error", err))
		return fc.fees
	}
	fc.fees, fc.next = fees, time.Now().Add(fc.every)
	return fees
}
