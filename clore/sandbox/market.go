package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// rentWindow is how long a background "rented by someone else" decision
// lasts; each server's window is phase-shifted so the fleet changes slowly.
const rentWindow = 3 * time.Hour

// rating is a host's rating as Clore renders it.
type rating struct {
	Avg float64 `json:"avg"`
	Cnt int     `json:"cnt"`
}

// server is the static part of one marketplace server, generated once.
type server struct {
	id          int64
	owner       int64
	mrlHours    int64
	country     string
	baseUSD     float64 // on-demand USD/day before drift
	spotFactor  float64 // minimum spot price relative to on-demand
	amp         float64 // relative drift amplitude
	periodSec   float64 // drift period
	phase       float64 // drift phase, radians
	hasBTC      bool    // priced in bitcoin
	hasUSD      bool    // priced in USD-Blockchain
	allowed     []string
	offline     bool
	rentProb    float64 // chance of being rented by someone else per window
	rentPhase   float64 // seconds
	reliability float64
	rating      rating
	cuda        string
	gpuArray    []string
	hw          specs
	specs       json.RawMessage // hw rendered once
	head        []byte          // `{"id":..,"owner":..,"mrl":..,"price":`
	tail        []byte          // `,"specs":...}` — everything after "rented"
}

// market is the generated marketplace. It is immutable after newMarket, so
// it is shared by all requests without locking.
type market struct {
	seed     uint64
	servers  []*server // ascending id
	byID     map[int64]*server
	sizeHint int
}

// serverStatic is the JSON shape of a server's fields that never change.
type serverStatic struct {
	Specs        json.RawMessage `json:"specs"`
	Reliability  float64         `json:"reliability"`
	AllowedCoins []string        `json:"allowed_coins"`
	Rating       rating          `json:"rating"`
	GPUArray     []string        `json:"gpu_array"`
	CUDAVersion  string          `json:"cuda_version,omitempty"`
}

// newMarket generates n servers deterministically from seed.
func newMarket(seed int64, n int, driftPerHour float64) (*market, error) {
	g := newMarketGen(seed, n)
	m := &market{seed: uint64(seed), byID: make(map[int64]*server, n)}
	id := int64(60000)
	for range n {
		id += 1 + g.rng.Int64N(26)
		sv := g.next(id, driftPerHour)
		if err := sv.freeze(); err != nil {
			return nil, fmt.Errorf("sandbox: generate server %d: %w", id, err)
		}
		m.servers = append(m.servers, sv)
		m.byID[id] = sv
		m.sizeHint += len(sv.head) + len(sv.tail) + 400
	}
	return m, nil
}

// freeze renders the static JSON fragments of the server.
func (sv *server) freeze() error {
	sv.head = fmt.Appendf(nil, `{"id":%d,"owner":%d,"mrl":%d,"price":`, sv.id, sv.owner, sv.mrlHours)
	hw, err := json.Marshal(sv.hw)
	if err != nil {
		return err
	}
	sv.specs = hw
	raw, err := json.Marshal(serverStatic{
		Specs:        sv.specs,
		Reliability:  sv.reliability,
		AllowedCoins: sv.allowed,
		Rating:       sv.rating,
		GPUArray:     sv.gpuArray,
		CUDAVersion:  sv.cuda,
	})
	if err != nil {
		return err
	}
	sv.tail = append([]byte{','}, raw[1:]...)
	return nil
}

// quote is one price per currency.
type quote struct {
	usd, clore, btc float64
}

// quoteUSD converts a USD amount into every currency, rounded like Clore
// renders them.
func quoteUSD(usd float64) quote {
	return quote{usd: usd, clore: round(usd/usdPerCLORE, 2), btc: round(usd/usdPerBTC, 8)}
}

// decimalsOf is how many decimals prices in currency carry.
func decimalsOf(currency string) int {
	if currency == currencyBTC {
		return 8
	}
	return 2
}

// in returns the price in the named currency.
func (q quote) in(currency string) float64 {
	switch currency {
	case currencyBTC:
		return q.btc
	case currencyCLORE:
		return q.clore
	default:
		return q.usd
	}
}

// usdAt is the on-demand USD/day price at t: a pure function of the seeded
// static data and t, so every process computes the same price.
func (sv *server) usdAt(t time.Time) float64 {
	p := sv.baseUSD
	if sv.amp > 0 {
		secs := float64(t.UnixMilli()) / 1000
		p *= 1 + sv.amp*math.Sin(2*math.Pi*secs/sv.periodSec+sv.phase)
	}
	return math.Max(round(p, 2), 0.01)
}

// onDemand is the on-demand price per day at t.
func (sv *server) onDemand(t time.Time) quote { return quoteUSD(sv.usdAt(t)) }

// spot is the host's minimum spot price per day at t.
func (sv *server) spot(t time.Time) quote {
	return quoteUSD(math.Max(round(sv.usdAt(t)*sv.spotFactor, 2), 0.01))
}

// accepts reports whether currency is in the server's allowed_coins.
func (sv *server) accepts(currency string) bool {
	for _, c := range sv.allowed {
		if c == currency {
			return true
		}
	}
	return false
}

// rentedByOthers is the background occupancy: deterministic per seed,
// server and time window.
func (m *market) rentedByOthers(sv *server, t time.Time) bool {
	if sv.offline {
		return false
	}
	return unit(mix(m.seed, uint64(sv.id), m.window(sv, t))) < sv.rentProb
}

// window numbers the server's current occupancy window.
func (m *market) window(sv *server, t time.Time) uint64 {
	secs := float64(t.UnixMilli())/1000 + sv.rentPhase
	return uint64(math.Floor(secs / rentWindow.Seconds()))
}

// renderMarketplace writes the whole /v1/marketplace answer for time t;
// busy holds servers occupied by sandbox orders or overrides, own the
// servers of the renter's own account (my_servers).
func (m *market) renderMarketplace(t time.Time, busy map[int64]bool, own []int64) []byte {
	b := make([]byte, 0, m.sizeHint)
	b = append(b, `{"servers":[`...)
	for i, sv := range m.servers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, sv.head...)
		b = sv.appendPrice(b, t)
		b = append(b, `,"rented":`...)
		b = strconv.AppendBool(b, busy[sv.id] || m.rentedByOthers(sv, t))
		b = append(b, sv.tail...)
	}
	b = append(b, `],"my_servers":[`...)
	slices.Sort(own)
	for i, id := range own {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return append(b, `],"code":0}`...)
}

// appendPrice appends the server's price object at t.
func (sv *server) appendPrice(b []byte, t time.Time) []byte {
	od, sp := sv.onDemand(t), sv.spot(t)
	b = append(b, `{"on_demand":`...)
	b = sv.appendPricing(b, od)
	b = append(b, `,"spot":`...)
	b = sv.appendPricing(b, sp)
	b = append(b, `,"usd":{`...)
	if sv.hasBTC {
		b = appendField(b, "on_demand_btc", od.btc*usdPerBTC)
		b = append(b, ',')
	}
	b = appendField(b, "on_demand_clore", od.clore*usdPerCLORE)
	if sv.hasUSD {
		b = append(b, ',')
		b = appendField(b, "on_demand_usd", od.usd)
	}
	b = append(b, ',')
	b = appendField(b, "spot", sp.usd)
	return append(b, "}}"...)
}

// appendPricing appends a Pricing object with the currencies the host priced.
func (sv *server) appendPricing(b []byte, q quote) []byte {
	b = append(b, '{')
	if sv.hasBTC {
		b = appendField(b, currencyBTC, q.btc)
		b = append(b, ',')
	}
	b = appendField(b, currencyCLORE, q.clore)
	if sv.hasUSD {
		b = append(b, ',')
		b = appendField(b, currencyUSD, q.usd)
	}
	return append(b, '}')
}

// pricing returns the Pricing object of q as a map, for encoding/json users.
func (sv *server) pricing(q quote) map[string]float64 {
	p := map[string]float64{currencyCLORE: q.clore}
	if sv.hasBTC {
		p[currencyBTC] = q.btc
	}
	if sv.hasUSD {
		p[currencyUSD] = q.usd
	}
	return p
}

// appendField appends `"key":value` (key needs no escaping).
func appendField(b []byte, key string, v float64) []byte {
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, `":`...)
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

// round rounds v to the given number of decimals.
func round(v float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}

// mix hashes three values into one well-distributed 64-bit value
// (splitmix64 finalizer rounds).
func mix(a, b, c uint64) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range [3]uint64{a, b, c} {
		h ^= v
		h += 0x9e3779b97f4a7c15
		h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9
		h = (h ^ (h >> 27)) * 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// newRand returns a deterministic generator for seed and stream.
func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}
