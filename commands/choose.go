package commands

import (
	"cmp"
	"slices"

	"github.com/clorebot/clorebot/clore"
)

// offerChoice is an offer priced in the currency clorebot would pay with.
type offerChoice struct {
	ServerID    int64   `json:"server_id"`
	Model       string  `json:"model"`
	GPUCount    int     `json:"gpu_count"`
	Currency    string  `json:"currency"`
	PricePerDay float64 `json:"price_per_day"` // in Currency: on-demand price, or the spot bid
	USDPerHour  float64 `json:"usd_per_hour"`  // whole order, Clore's renter fee included
	// CreationFeeUSD is Clore's one-time fee for creating the order, in USD.
	CreationFeeUSD float64 `json:"creation_fee_usd,omitempty"`
	Spot           bool    `json:"spot"`
	Reliability    float64 `json:"reliability"`
}

// creationFeeNote is the one-time creation fee as a rent reply states it
// after the hourly price ("" when none is known).
func (c offerChoice) creationFeeNote() string {
	if c.CreationFeeUSD <= 0 {
		return ""
	}
	return ", plus " + usd(c.CreationFeeUSD) + " once to create the order"
}

// USDPerGPU is the price per GPU per hour.
func (c offerChoice) USDPerGPU() float64 { return c.USDPerHour / float64(max(c.GPUCount, 1)) }

// want is what a rent asks of an offer.
type want struct {
	Models         []string
	Count          int
	MaxPerGPU      float64 // 0 = no cap
	Spot           bool
	Currency       string // "" = any the wallet can pay
	MinReliability float64
	Exclude        []int64
	Prefer         int64 // a server confirmed by the user comes first when still suitable
}

// choose ranks the offers that satisfy w: cheapest per GPU first, then the
// more reliable. balances, when not nil, rules out currencies the wallet
// cannot pay an hour of.
func choose(offers []clore.Offer, w want, balances map[string]float64) []offerChoice {
	var out []offerChoice
	for i := range offers {
		if c, ok := suits(&offers[i], w, balances); ok {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, w.rank)
	return out
}

// chooseBest is choose's first offer, found without ranking the others.
func chooseBest(offers []clore.Offer, w want, balances map[string]float64) (best offerChoice, found bool) {
	for i := range offers {
		if c, ok := suits(&offers[i], w, balances); ok && (!found || w.rank(c, best) < 0) {
			best, found = c, true
		}
	}
	return best, found
}

// suits prices o when it satisfies w.
func suits(o *clore.Offer, w want, balances map[string]float64) (offerChoice, bool) {
	if o.Rented || o.GPUCount != w.Count || o.Reliability < w.MinReliability ||
		!slices.Contains(w.Models, o.Model) || slices.Contains(w.Exclude, o.ServerID) {
		return offerChoice{}, false
	}
	c, ok := price(o, w, balances)
	if !ok || (w.MaxPerGPU > 0 && c.USDPerGPU() > w.MaxPerGPU*(1+1e-9)) {
		return offerChoice{}, false
	}
	return c, true
}

// rank orders suitable offers: the preferred server first, then the
// cheapest, then the more reliable.
func (w want) rank(a, b offerChoice) int {
	if a.ServerID == w.Prefer || b.ServerID == w.Prefer {
		return cmp.Compare(boolInt(b.ServerID == w.Prefer), boolInt(a.ServerID == w.Prefer))
	}
	return cmp.Or(cmp.Compare(a.USDPerHour, b.USDPerHour), cmp.Compare(b.Reliability, a.Reliability), cmp.Compare(a.ServerID, b.ServerID))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// price picks the cheapest currency the server accepts (and the wallet can
// pay) for an offer.
func price(o *clore.Offer, w want, balances map[string]float64) (offerChoice, bool) {
	best := offerChoice{}
	found := false
	for _, cur := range o.Currencies {
		if w.Currency != "" && cur != w.Currency {
			continue
		}
		perDay := o.OnDemandPerDay[cur]
		if w.Spot {
			perDay = o.SpotPerDay[cur]
		}
		usdPerHour := o.USDPerHour(cur, perDay, w.Spot) // Clore's renter fee included
		if perDay <= 0 || usdPerHour <= 0 {
			continue
		}
		if balances != nil && balances[cur] < perDay/24 {
			continue
		}
		c := offerChoice{ServerID: o.ServerID, Model: o.Model, GPUCount: o.GPUCount, Currency: cur,
			PricePerDay: perDay, USDPerHour: usdPerHour, CreationFeeUSD: o.CreationFeeUSD(cur, w.Spot),
			Spot: w.Spot, Reliability: o.Reliability}
		if !found || c.USDPerHour < best.USDPerHour {
			best, found = c, true
		}
	}
	return best, found
}
