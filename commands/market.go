package commands

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// ModelSummary is the marketplace at a glance for one GPU model. Prices are
// USD per GPU per hour; 0 means none is offered.
type ModelSummary struct {
	Model             string  `json:"model"`
	Available         int     `json:"available"` // servers not rented
	Total             int     `json:"total"`
	OnDemand          float64 `json:"cheapest_on_demand"`
	Spot              float64 `json:"cheapest_spot"`
	Reliable          float64 `json:"cheapest_reliable"` // on-demand at or above the reliability floor
	ReliableServerID  int64   `json:"cheapest_reliable_server_id,omitempty"`
	ReliabilityFloorP float64 `json:"reliability_floor"`
}

// Summarize groups offers by model, cheapest first.
func Summarize(offers []clore.Offer, floor float64) []ModelSummary {
	byModel := map[string]*ModelSummary{}
	for i := range offers {
		o := &offers[i]
		if o.Model == "" {
			continue
		}
		m := byModel[o.Model]
		if m == nil {
			m = &ModelSummary{Model: o.Model, ReliabilityFloorP: floor}
			byModel[o.Model] = m
		}
		m.Total++
		if o.Rented {
			continue
		}
		m.Available++
		od, spot := o.PerGPU(o.OnDemandUSDPerHour), o.PerGPU(o.SpotUSDPerHour)
		m.OnDemand = minPositive(m.OnDemand, od)
		m.Spot = minPositive(m.Spot, spot)
		if o.Reliability >= floor && od > 0 && (m.Reliable == 0 || od < m.Reliable) {
			m.Reliable, m.ReliableServerID = od, o.ServerID
		}
	}
	out := make([]ModelSummary, 0, len(byModel))
	for _, m := range byModel {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b ModelSummary) int {
		return cmp.Or(cmp.Compare(b.Available, a.Available), strings.Compare(a.Model, b.Model))
	})
	return out
}

func minPositive(cur, v float64) float64 {
	if v > 0 && (cur == 0 || v < cur) {
		return v
	}
	return cur
}

// models lists the canonical models on offer.
func models(offers []clore.Offer) []string {
	seen := map[string]bool{}
	var out []string
	for _, o := range offers {
		if o.Model != "" && !seen[o.Model] {
			seen[o.Model] = true
			out = append(out, o.Model)
		}
	}
	slices.Sort(out)
	return out
}

// resolveGPU maps a user's GPU query to the models on offer, or a usage error
// that names the query and suggests the closest model.
func resolveGPU(command, query string, offers []clore.Offer) ([]string, error) {
	return resolveGPUIn(command, query, models(offers))
}

// resolveGPUIn is resolveGPU against the models on offer, all (sorted).
func resolveGPUIn(command, query string, all []string) ([]string, error) {
	if got := MatchGPU(query, all); len(got) > 0 {
		return got, nil
	}
	problem := fmt.Sprintf("no GPU model %q on the marketplace", query)
	if s := SuggestGPU(query, all); s != "" {
		problem += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return nil, &UsageError{Command: command, Problem: problem, Usage: Usage(command)}
}

func (s *Service) handleMarket(ctx context.Context, a *MarketArgs) Reply {
	snap, err := s.snapshot()
	if err != nil {
		return s.fail(ctx, "market", err)
	}
	offers := snap.offers
	var want []string
	if a.GPU != "" {
		if want, err = resolveGPU("market", a.GPU, offers); err != nil {
			return errorReply(err)
		}
	}
	if a.History != "" {
		return s.marketHistory(ctx, a, want, snap)
	}
	sums := Summarize(offers, s.policy.MinReliability)
	r := Reply{Status: StatusOK, Title: "Clore marketplace", Visibility: Ephemeral, Done: true,
		Text: fmt.Sprintf("USD per GPU per hour, Clore's renter fee included; reliable = reliability ≥ %.0f%%. %s",
			s.policy.MinReliability*100, s.pricesAsOf(snap))}
	for _, m := range sums {
		if want != nil && !slices.Contains(want, m.Model) {
			continue
		}
		r.Fields = append(r.Fields, Field{Name: m.Model, Value: m.describe(), Short: true})
	}
	if len(r.Fields) == 0 {
		r.Text = "Nothing on offer right now."
	}
	return r
}

// pricesAsOf says how old snap is: a snapshot kept from before a restart
// says so while the fresh one loads.
func (s *Service) pricesAsOf(snap *marketSnapshot) string {
	age := max(s.clock.Now().Sub(snap.at), 0).Round(time.Second)
	if snap.stored {
		return fmt.Sprintf("Prices as of %s ago, kept from before a restart; fresh ones are loading.", age)
	}
	return fmt.Sprintf("As of %s ago.", age)
}

func (m ModelSummary) describe() string {
	if m.Available == 0 {
		return fmt.Sprintf("0 of %d free", m.Total)
	}
	parts := []string{fmt.Sprintf("%d of %d free", m.Available, m.Total), "from " + usd(m.OnDemand)}
	if m.Spot > 0 {
		parts = append(parts, "spot "+usd(m.Spot))
	}
	if m.Reliable > 0 {
		parts = append(parts, "reliable "+usd(m.Reliable))
	}
	return strings.Join(parts, " · ")
}

// usd formats a USD amount with enough digits for cheap GPUs.
func usd(v float64) string {
	if v < 1 {
		return fmt.Sprintf("$%.3f", v)
	}
	return fmt.Sprintf("$%.2f", v)
}

// Market is the marketplace summary per GPU model (GET /webhook/marketplace),
// from the current snapshot; ErrWarmingUp before the first refresh. It never
// calls Clore.
func (s *Service) Market(ctx context.Context) ([]ModelSummary, error) {
	offers, err := s.offers(ctx)
	if err != nil {
		return nil, err
	}
	return Summarize(offers, s.policy.MinReliability), nil
}
