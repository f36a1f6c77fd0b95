package clore

import "slices"

// Offer is a marketplace server normalised for choosing: canonical GPU model
// and count, and prices in USD per hour for the whole server.
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
	// OnDemandUSDPerDay is the USD value per day of the on-demand price in each currency.
	OnDemandUSDPerDay Pricing
	// OnDemandUSDPerHour is the cheapest accepted on-demand price, USD per hour,
	// whole server; 0 when the server has no price in an accepted currency.
	OnDemandUSDPerHour float64
	// SpotUSDPerHour is the cheapest accepted spot price; 0 when none is offered.
	SpotUSDPerHour float64
	MaxHours       int // the host's maximum rental length
	CUDAVersion    string
	Rating         float64
}

// PerGPU divides a whole-server price by the GPU count.
func (o Offer) PerGPU(usdPerHour float64) float64 {
	if o.GPUCount <= 0 {
		return usdPerHour
	}
	return usdPerHour / float64(o.GPUCount)
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
	if o.Currencies == nil {
		for c := range s.Price.OnDemand {
			o.Currencies = append(o.Currencies, c)
		}
		slices.Sort(o.Currencies)
	}
	o.OnDemandUSDPerDay = usdPerDay(&s.Price)
	o.OnDemandUSDPerHour = cheapest(o.Currencies, o.OnDemandUSDPerDay) / 24
	o.SpotUSDPerHour = spotUSDPerDay(&s.Price, o.Currencies) / 24
	return o
}

// usdPerDay gives the USD value of the on-demand price in each currency:
// USD-Blockchain is USD; Clore states the others' USD equivalents in price.usd.
func usdPerDay(p *ServerPrice) Pricing {
	out := make(Pricing, 3)
	if v := p.OnDemand[CurrencyUSD]; v > 0 {
		out[CurrencyUSD] = v
	}
	if v := p.USD.OnDemandCLORE; v > 0 && p.OnDemand[CurrencyCLORE] > 0 {
		out[CurrencyCLORE] = v
	}
	if v := p.USD.OnDemandBTC; v > 0 && p.OnDemand[CurrencyBTC] > 0 {
		out[CurrencyBTC] = v
	}
	return out
}

// spotUSDPerDay converts spot prices with the exchange rate implied by the
// on-demand prices, and takes the cheapest accepted one.
func spotUSDPerDay(p *ServerPrice, accepted []string) float64 {
	best := 0.0
	usd := usdPerDay(p)
	for _, c := range accepted {
		spot := p.Spot[c]
		if spot <= 0 {
			continue
		}
		v := spot // USD-Blockchain
		if c != CurrencyUSD {
			if p.OnDemand[c] <= 0 || usd[c] <= 0 {
				continue
			}
			v = spot * usd[c] / p.OnDemand[c]
		}
		if best == 0 || v < best {
			best = v
		}
	}
	if best == 0 && p.USD.Spot > 0 {
		best = p.USD.Spot
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
