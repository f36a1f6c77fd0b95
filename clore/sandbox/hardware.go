package sandbox

import (
	"fmt"
	"math"
)

// testHistoryEpoch anchors generated speed-test timestamps so that they do
// not depend on the wall clock (October 2025, like the captured sample).
const testHistoryEpoch = 1759000000

// hardware generates the specs of a server.
func (g *marketGen) hardware(h *host, model gpuModel, parts hostParts, count int, label string) specs {
	cpu := parts.cpus[g.rng.IntN(len(parts.cpus))]
	ram := parts.ramGB[g.rng.IntN(len(parts.ramGB))]
	s := specs{
		MB:             parts.boards[g.rng.IntN(len(parts.boards))],
		CPU:            cpu.name,
		CPUs:           cpu.cpus,
		RAM:            round(ram*(0.975+0.02*g.rng.Float64()), 4),
		GPU:            label,
		GPURAM:         model.memGB,
		Disk:           g.disk(parts),
		Net:            g.network(h.country),
		BackendVersion: h.backend,
		PCIeRev:        min(model.pcieGen, parts.pcieMax),
		PCIeWidth:      parts.widths[g.rng.IntN(len(parts.widths))],
		StockOC:        "default",
	}
	if g.rng.Float64() < 0.97 {
		speed := round(g.diskSpeed(parts), 2)
		s.DiskSpeed = &speed
	}
	if g.rng.Float64() < 0.03 {
		s.PCIeRev = fmt.Sprintf("%d.0", s.PCIeRev) // a few hosts report a string
	}
	if g.rng.Float64() < 0.5 {
		one := 1
		s.XFS = &one
	}
	g.power(&s, model, count)
	return s
}

// disk returns a "model sizeGB" disk string.
func (g *marketGen) disk(parts hostParts) string {
	name := parts.disks[g.rng.IntN(len(parts.disks))]
	size := 40 + 2000*g.rng.Float64()*g.rng.Float64()
	return fmt.Sprintf("%s %.4fGB", name, size)
}

// diskSpeed returns a plausible disk benchmark in MB/s.
func (g *marketGen) diskSpeed(parts hostParts) float64 {
	if parts.pcieMax <= 3 {
		return 25 + 500*g.rng.Float64()
	}
	return 300 + 3200*g.rng.Float64()
}

// network returns specs.net with a short speed-test history.
func (g *marketGen) network(cc string) netSpecs {
	down := round(20+980*g.rng.Float64()*g.rng.Float64(), 2)
	n := netSpecs{Down: down, Up: round(down*(0.2+0.8*g.rng.Float64()), 2), CC: cc}
	if g.rng.Float64() < 0.05 {
		return n // no history yet
	}
	ts := int64(testHistoryEpoch) + g.rng.Int64N(2_000_000)
	k := 1 + g.rng.IntN(3)
	for i := range k {
		d, u := n.Down, n.Up
		if i < k-1 { // older measurements differ; the newest is the current value
			d, u = round(d*(0.6+0.5*g.rng.Float64()), 2), round(u*(0.6+0.5*g.rng.Float64()), 2)
		}
		n.TestHistory = append(n.TestHistory, fmt.Sprintf("S|%d|%g|%g", ts, d, u))
		ts += 20_000 + g.rng.Int64N(900_000)
	}
	return n
}

// power fills the optional power-limit and overclock fields.
func (g *marketGen) power(s *specs, model gpuModel, count int) {
	tdp := math.Round(math.Min(math.Max(110+30*model.usdDay/math.Max(1, model.memGB/24), 120), 700))
	if g.rng.Float64() < 0.25 {
		for range count {
			s.StockPL = append(s.StockPL, tdp)
			s.PL = append(s.PL, tdp)
		}
	}
	switch r := g.rng.Float64(); {
	case r < 0.05:
		oc := make([]stockOC, 0, count)
		for range count {
			oc = append(oc, stockOC{Model: model.name, CoreOffset: 0, MemOffset: 0})
		}
		s.StockOC = oc
	case r < 0.08:
		s.StockOC = nil // field absent
	}
}
