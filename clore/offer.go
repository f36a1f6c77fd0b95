package clore

import "slices"

// Offer is a marketplace server normalised for choosing: canonical GPU model
// and count, and prices in USD per hour for the whole server. Every USD price
// includes Clore's renter fee (Server.Fees, the documented rates by default):
// what the account pays, so what is shown and what guardrails count. Prices
// in a currency (OnDemandPerDay, SpotPerDay) are the host's, as create_order
// takes them.
type Offer struct {
	ServerID    int64
	Model       string // canonical, see CanonicalGPU
	GPUCount    int
	GPURAMGB    float64 // per GPU
	RawGPU      string  // specs.gpu as the host reports it
	Rented      bool
	Reliability float64 // 0..1
	Country     string  // ISO code from specs.net.cc
	// Currencies the server accepts (allowed_coins; the priced currencies when absent).
	Currencies []string
	// OnDemandPerDay and SpotPerDay are Clore's prices per currency, per day, per server.
	OnDemandPerDay Pricing
	SpotPerDay     Pricing
	// OnDemandUSDPerDay is the USD value per day of the on-demand price in
	// each currency, renter fee included.
	OnDemandUSDPerDay Pricing
	// OnDemandUSDPerHour is the cheapest accepted on-demand price, USD per hour,
	// whole server, fee included; 0 when the server has no price in an accepted currency.
	OnDemandUSDPerHour float64
	// SpotUSDPerHour is the cheapest accepted spot price, fee included; 0 when none is offered.
	SpotUSDPerHour float64
	MaxHours       int // the host's maximum rental length
	CUDAVersion    string
	Rating         float64
	// Fees are the rates the USD prices include.
	Fees Fees
	// usdPerCLORE and usdPerBTC are the USD values of one unit, as Clore's
	// price.usd block implies them; 0 when unknown.
	usdPerCLORE, usdPerBTC float64
}

// PerGPU divides a whole-server price by the GPU count.
func (o Offer) PerGPU(usdPerHour float64) float64 {
	if o.GPUCount <= 0 {
		return usdPerHour
	}
	return usdPerHour / float64(o.GPUCount)
}

// USDPerHour converts a price per day in currency (an on-demand price or a
// spot bid) to what the account pays in USD per hour, renter fee included;
// 0 when the currency's USD value is unknown.
func (o Offer) USDPerHour(currency string, perDay float64, spot bool) float64 {
	return perDay * o.USDPerUnit(currency) * (1 + o.Fees.Rate(currency, spot)) / 24
}

// USDPerUnit is the USD value of one unit of currency as Clore's price.usd
// block implies it (1 for USD-Blockchain); 0 when unknown.
func (o Offer) USDPerUnit(currency string) float64 {
	switch currency {
	case CurrencyUSD:
		return 1
	case CurrencyCLORE:
		return o.usdPerCLORE
	case CurrencyBTC:
		return o.usdPerBTC
	}
	return 0
}

// USDRate is the USD value of one unit of currency (CLORE-Blockchain,
// bitcoin) at Clore's own exchange rate, as the marketplace's price.usd
// figures imply it: price.usd.on_demand_clore over price.on_demand's CLORE
// price, and the same for bitcoin (see Offer.USDPerUnit). Unlike
// OnDemandUSDPerDay divided by OnDemandPerDay it leaves Clore's renter fee
// out, so it values a wallet balance, not a rental. It is the median over
// the offers that price in currency, so that one host with odd figures does
// not move it. USD-Blockchain is worth 1. ok is false when no offer prices
// in currency (an empty marketplace, an unknown currency).
func USDRate(offers []Offer, currency string) (usdPerUnit float64, ok bool) {
	if currency == CurrencyUSD {
		return 1, true
	}
	rates := make([]float64, 0, len(offers))
	for i := range offers {
		if r := offers[i].USDPerUnit(currency); r > 0 {
			rates = append(rates, r)
		}
	}
	if len(rates) == 0 {
		return 0, false
	}
	slices.Sort(rates)
	mid := len(rates) / 2
	if len(rates)%2 == 0 {
		return (rates[mid-1] + rates[mid]) / 2, true
	}
	return rates[mid], true
}

// CreationFeeUSD is the one-time fee of an order paid in currency, in USD.
func (o Offer) CreationFeeUSD(currency string, spot bool) float64 {
	if fee, ok := o.Fees.Creation(currency, spot); ok && o.USDPerUnit(currency) > 0 {
		return fee * o.USDPerUnit(currency)
	}
	return DefaultCreationFeeUSD
}

// Accepts reports whether the server takes payment in currency.
func (o Offer) Accepts(currency string) bool { return slices.Contains(o.Currencies, currency) }

// Offers normalises every server of a marketplace answer. A marketplace has
// thousands of servers but a few dozen GPU spellings: names are parsed once.
func Offers(servers []Server) []Offer {
	out := make([]Offer, len(servers))
	type gpuKey struct {
		spec, first string
		mem         float64
		n           int
	}
	type gpu struct {
		model string
		count int
	}
	seen := make(map[gpuKey]gpu, 64)
	for i := range servers {
		s := &servers[i]
		k := gpuKey{spec: s.Specs.GPU, mem: s.Specs.GPURAM, n: len(s.GPUArray)}
		if len(s.GPUArray) > 0 {
			k.first = s.GPUArray[0]
		}
		g, ok := seen[k]
		if !ok {
			g.model, g.count = ParseGPU(s.Specs.GPU, s.GPUArray, s.Specs.GPURAM)
			seen[k] = g
		}
		out[i] = newOffer(s, g.model, g.count)
	}
	return out
}

// NewOffer normalises one server.
func NewOffer(s *Server) Offer {
	model, count := ParseGPU(s.Specs.GPU, s.GPUArray, s.Specs.GPURAM)
	return newOffer(s, model, count)
}

func newOffer(s *Server, model string, count int) Offer {
	o := Offer{
		ServerID: s.ID, Model: model, GPUCount: count, GPURAMGB: s.Specs.GPURAM,
		RawGPU: s.Specs.GPU, Rented: s.Rented, Reliability: s.Reliability,
		Country: s.Specs.Net.CC, Currencies: s.AllowedCoins,
		OnDemandPerDay: s.Price.OnDemand, SpotPerDay: s.Price.Spot,
		MaxHours: int(s.MRL), CUDAVersion: string(s.CUDAVersion), Rating: s.Rating.Avg,
	}
	if s.Fees != nil {
		o.Fees = *s.Fees
	}
	if o.Currencies == nil {
		for c := range s.Price.OnDemand {
			o.Currencies = append(o.Currencies, c)
		}
		slices.Sort(o.Currencies)
	}
	o.usdPerCLORE = perUnit(s.Price.USD.OnDemandCLORE, s.Price.OnDemand[CurrencyCLORE])
	o.usdPerBTC = perUnit(s.Price.USD.OnDemandBTC, s.Price.OnDemand[CurrencyBTC])
	o.OnDemandUSDPerDay = make(Pricing, 3)
	for _, c := range [...]string{CurrencyUSD, CurrencyCLORE, CurrencyBTC} {
		if v := o.USDPerHour(c, s.Price.OnDemand[c], false) * 24; v > 0 {
			o.OnDemandUSDPerDay[c] = v
		}
	}
	o.OnDemandUSDPerHour = cheapest(o.Currencies, o.OnDemandUSDPerDay) / 24
	o.SpotUSDPerHour = o.cheapestSpotPerHour(s.Price.USD.Spot)
	return o
}

// perUnit is the USD value of one unit of a currency whose on-demand price
// is amount and whose USD equivalent Clore states as usd; 0 when unknown.
func perUnit(usd, amount float64) float64 {
	if usd > 0 && amount > 0 {
		return usd / amount
	}
	return 0
}

// cheapestSpotPerHour is the cheapest accepted spot price in USD per hour,
// fee included; without a convertible spot price it falls back on Clore's
// own USD figure (price.usd.spot).
func (o Offer) cheapestSpotPerHour(usdSpotPerDay float64) float64 {
	best := 0.0
	for _, c := range o.Currencies {
		if v := o.USDPerHour(c, o.SpotPerDay[c], true); v > 0 && (best == 0 || v < best) {
			best = v
		}
	}
	if best == 0 && usdSpotPerDay > 0 {
		best = usdSpotPerDay * (1 + o.Fees.Rate(CurrencyUSD, true)) / 24
	}
	return best
}

func cheapest(accepted []string, usd Pricing) float64 {
	best := 0.0
	for _, c := range accepted {
		if v := usd[c]; v > 0 && (best == 0 || v < best) {
			best = v
		}
	}
	return best
}
