package sandbox

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// specs is the Specs object of clore-api.md §5.2, shared by marketplace
// servers and orders.
type specs struct {
	MB             string    `json:"mb"`
	CPU            string    `json:"cpu"`
	CPUs           string    `json:"cpus"`
	RAM            float64   `json:"ram"`
	GPU            string    `json:"gpu"`
	GPURAM         float64   `json:"gpuram"`
	Disk           string    `json:"disk"`
	DiskSpeed      *float64  `json:"disk_speed,omitempty"`
	Net            netSpecs  `json:"net"`
	BackendVersion int       `json:"backend_version"`
	PCIeRev        any       `json:"pcie_rev"` // int, or a string like "4.0" on a few hosts
	PCIeWidth      int       `json:"pcie_width"`
	XFS            *int      `json:"xfs,omitempty"`
	PL             []float64 `json:"pl,omitempty"`
	StockPL        []float64 `json:"stock_pl,omitempty"`
	StockOC        any       `json:"stock_oc,omitempty"` // "default" or []stockOC
}

// netSpecs is specs.net.
type netSpecs struct {
	Up          float64  `json:"up"`
	Down        float64  `json:"down"`
	CC          string   `json:"cc"`
	TestHistory []string `json:"test_history,omitempty"`
}

// stockOC is one entry of a stock_oc array.
type stockOC struct {
	Model      string `json:"model"`
	CoreOffset int    `json:"core_offset"`
	MemOffset  int    `json:"mem_offset"`
	CoreLock   int    `json:"core_lock"`
	MemLock    int    `json:"mem_lock"`
}

// coinPattern is which currencies a host prices and accepts.
type coinPattern struct {
	weight         float64
	hasBTC, hasUSD bool
	allowed        []string
}

// host is a marketplace host; it usually owns several similar servers.
type host struct {
	owner       int64
	country     string
	coins       coinPattern
	reliability float64
	rating      rating
	backend     int
	mrlHours    int64
}

// marketGen holds the generator state while newMarket runs.
type marketGen struct {
	rng       *rand.Rand
	catalog   []gpuModel
	modelW    []float64
	countries []countryWeight
	countryW  []float64
	patterns  []coinPattern
	patternW  []float64
	hosts     []*host
	owners    map[int64]bool
	prevHost  *host
	prevModel int
}

// newMarketGen prepares the weighted tables of the generator.
func newMarketGen(seed int64, n int) *marketGen {
	g := &marketGen{
		rng:       newRand(seed, 0x6d61726b6574),
		catalog:   gpuCatalog(),
		countries: hostCountries(),
		owners:    make(map[int64]bool, n/2),
		patterns: []coinPattern{
			{72, true, true, []string{currencyBTC, currencyCLORE, currencyUSD}},
			{4, true, true, []string{currencyBTC, currencyCLORE}}, // USD priced, not allowed (observed live)
			{14, true, false, []string{currencyBTC, currencyCLORE}},
			{6, true, false, []string{currencyCLORE}},
			{4, false, true, []string{currencyCLORE, currencyUSD}},
		},
	}
	for _, m := range g.catalog {
		g.modelW = append(g.modelW, m.weight)
	}
	for _, c := range g.countries {
		g.countryW = append(g.countryW, c.weight)
	}
	for _, p := range g.patterns {
		g.patternW = append(g.patternW, p.weight)
	}
	return g
}

// pick returns an index chosen with the given weights.
func (g *marketGen) pick(weights []float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	x := g.rng.Float64() * total
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// pickHost continues the previous host's run of servers, reuses an older
// host, or creates a new one.
func (g *marketGen) pickHost() (h *host, same bool) {
	switch r := g.rng.Float64(); {
	case g.prevHost != nil && r < 0.45:
		return g.prevHost, true
	case len(g.hosts) > 20 && r < 0.65:
		return g.hosts[g.rng.IntN(len(g.hosts))], false
	}
	owner := 1 + g.rng.Int64N(35000)
	for g.owners[owner] {
		owner = 1 + g.rng.Int64N(35000)
	}
	g.owners[owner] = true
	h = &host{
		owner:       owner,
		country:     g.countries[g.pick(g.countryW)].cc,
		coins:       g.patterns[g.pick(g.patternW)],
		reliability: 1 - math.Abs(g.rng.NormFloat64()*0.18),
		backend:     []int{19, 20, 21, 21, 22, 22, 23}[g.rng.IntN(7)],
		mrlHours:    []int64{24, 72, 168, 336, 720, 720, 2160, 3000}[g.rng.IntN(8)],
	}
	if cnt := g.rng.IntN(300); cnt > 0 {
		h.rating = rating{Avg: round(math.Min(5, 3.4+1.8*g.rng.Float64()), 2), Cnt: cnt}
	}
	g.hosts = append(g.hosts, h)
	return h, false
}

// next generates the server with the given id.
func (g *marketGen) next(id int64, driftPerHour float64) *server {
	h, same := g.pickHost()
	mi := g.prevModel
	if !same || g.rng.Float64() >= 0.7 {
		mi = g.pick(g.modelW)
	}
	g.prevHost, g.prevModel = h, mi
	model := g.catalog[mi]
	parts := partsFor(model.classes[g.rng.IntN(len(model.classes))])
	count := parts.counts[g.rng.IntN(len(parts.counts))]
	if model.mixed {
		count = []int{6, 6, 6, 4, 5, 8}[g.rng.IntN(6)]
	}
	sv := &server{
		id: id, owner: h.owner, mrlHours: h.mrlHours, country: h.country,
		hasBTC: h.coins.hasBTC, hasUSD: h.coins.hasUSD, allowed: h.coins.allowed,
		rating: h.rating,
	}
	g.price(sv, model, count, driftPerHour)
	g.occupancy(sv, h, model)
	names, label := g.gpuNames(model, count)
	for _, n := range names {
		sv.gpuArray = append(sv.gpuArray, gpuArrayName(n))
	}
	sv.hw = g.hardware(h, model, parts, count, label)
	return sv
}

// price sets the base price, the spot discount and the drift curve. The
// random draws do not depend on driftPerHour, so the static market is the
// same for every drift setting.
func (g *marketGen) price(sv *server, model gpuModel, count int, driftPerHour float64) {
	per := model.usdDay * math.Exp(g.rng.NormFloat64()*0.22)
	per = math.Min(math.Max(per, model.minUSD), model.maxUSD)
	usd := per * float64(count)
	if snap := g.rng.Float64() < 0.4; snap && usd >= 2 {
		usd = math.Round(usd*2) / 2 // hosts like round prices
	}
	sv.baseUSD = math.Max(round(usd, 2), 0.05)
	sv.spotFactor = 0.5 + 0.2*g.rng.Float64()
	periodHours := 12 + 36*g.rng.Float64()
	sv.periodSec = periodHours * 3600
	sv.phase = 2 * math.Pi * g.rng.Float64()
	if driftPerHour > 0 {
		// The steepest slope of a·sin(2πt/P) is 2πa/P per hour, so this
		// amplitude makes prices move by at most driftPerHour per hour.
		sv.amp = math.Min(0.5, driftPerHour*periodHours/(2*math.Pi))
	}
}

// occupancy decides offline state, background renting, reliability and CUDA.
func (g *marketGen) occupancy(sv *server, h *host, model gpuModel) {
	sv.offline = g.rng.Float64() < 0.03
	sv.rentProb = 0.05 + 0.2*g.rng.Float64()
	sv.rentPhase = g.rng.Float64() * rentWindow.Seconds()
	rel := h.reliability + g.rng.NormFloat64()*0.05
	sv.reliability = round(math.Min(math.Max(rel, 0.01), 1), 4)
	versions := cudaVersionsFor(model.arch)
	sv.cuda = versions[g.rng.IntN(len(versions))]
	if g.rng.Float64() < 0.02 {
		sv.cuda = "" // field absent
	}
}

// gpuNames returns one product name per GPU and the specs.gpu label.
func (g *marketGen) gpuNames(model gpuModel, count int) (names []string, label string) {
	if !model.mixed {
		for range count {
			names = append(names, model.name)
		}
		return names, fmt.Sprintf("%dx %s", count, model.name)
	}
	members := []string{
		"NVIDIA GeForce RTX 3070", "NVIDIA GeForce RTX 3060", "NVIDIA GeForce RTX 3060 Ti",
		"NVIDIA GeForce GTX 1080 Ti", "NVIDIA GeForce RTX 3080", "NVIDIA GeForce GTX 1070",
	}
	for range count {
		names = append(names, members[g.rng.IntN(len(members))])
	}
	slices.Sort(names)
	return names, fmt.Sprintf("%dx Mixed GPUs", count)
}
