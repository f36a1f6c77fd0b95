package commands

import (
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/clorebot/clorebot/clore"
)

// Whole-query GPU forms, matched on the upper-case query with spaces, "-"
// and "_" removed and vendor words dropped ("nvidia rtx-4070 ti" ->
// "RTX4070TI"). A trailing memory size ("24GB", "48G") is allowed.
var (
	reGPUMemory   = regexp.MustCompile(`^\d+GB?$`)
	reGPUAda      = regexp.MustCompile(`^(?:RTX)?(\d{4})ADA(?:GENERATION)?(?:\d+GB?)?$`)
	reGPUAmpereWS = regexp.MustCompile(`^(?:RTX)?A(2000|4000|4500|5000|5500|6000)(?:\d+GB?)?$`)
	reGPUDataCtr  = regexp.MustCompile(`^(L40S|L40|L4|A40|A30|A16|A10G|A10|A2|V100|T4|P100|P40|P4|K80|B200|GH200)(?:\d+GB?)?$`)
	reGPUGeForce  = regexp.MustCompile(`^(RTX|GTX|GT)?(\d{3,4})(TI)?(SUPER)?(?:\d+GB?)?$`)
)

// NormalizeGPU turns what a user types for a GPU into the canonical model
// name the marketplace uses (clore.CanonicalGPU's spelling), forgivingly:
// "4090", "rtx4090", "rtx-4090" -> "RTX 4090"; "3060ti" -> "RTX 3060 Ti";
// "1080ti" -> "GTX 1080 Ti"; "a100 80" -> "A100 80GB"; "a6000" -> "RTX A6000";
// "6000 ada" -> "RTX 6000 Ada"; "l40s" -> "L40S". A bare family stays a
// family: "a100" -> "A100", "h100" -> "H100" (see MatchGPU). A query it does
// not recognise comes back with its whitespace collapsed, so that it can
// still be compared and suggested against. NormalizeGPU is idempotent.
func NormalizeGPU(query string) string {
	name, _ := canonicalGPUQuery(query)
	return name
}

// gpuQueryKnown reports whether NormalizeGPU recognises the query.
func gpuQueryKnown(query string) bool {
	_, ok := canonicalGPUQuery(query)
	return ok
}

// canonicalGPUQuery is spellQuery, remembered for the last queries seen:
// every rent and market of a webhook burst asks for the same few models.
func canonicalGPUQuery(query string) (string, bool) {
	if v, ok := gpuQueries.Load(query); ok {
		q := v.(spelledQuery)
		return q.name, q.known
	}
	name, known := spellQuery(query)
	if gpuQueryCount.Add(1) <= maxGPUQueries && len(query) <= 64 {
		gpuQueries.Store(query, spelledQuery{name, known})
	}
	return name, known
}

// The memory of canonicalGPUQuery: at most maxGPUQueries queries (the
// first ones seen), so that odd queries cannot make it grow.
var (
	gpuQueries    sync.Map // query -> spelledQuery
	gpuQueryCount atomic.Int64
)

const maxGPUQueries = 1024

type spelledQuery struct {
	name  string
	known bool
}

// spellQuery puts a user's GPU query into canonical form, and reports
// whether it names a known model.
func spellQuery(query string) (string, bool) {
	collapsed := strings.Join(strings.Fields(query), " ")
	words := strings.FieldsFunc(strings.ToUpper(collapsed), func(r rune) bool {
		return unicode.IsSpace(r) || r == '-' || r == '_'
	})
	var compact strings.Builder
	for _, w := range words {
		switch w {
		case "NVIDIA", "GEFORCE", "TESLA", "QUADRO":
			continue
		}
		compact.WriteString(w)
	}
	if spelled, ok := spellGPU(compact.String()); ok {
		if spelled == "A100" || spelled == "H100" {
			return spelled, true // families: CanonicalGPU would pick a variant
		}
		return clore.CanonicalGPU(spelled, 0), true
	}
	return collapsed, false
}

// spellGPU spells a compact query the way hosts report GPUs, for
// clore.CanonicalGPU to put into canonical form.
func spellGPU(c string) (string, bool) {
	switch {
	case c == "":
		return "", false
	case c == "MIXED" || c == "MIXEDGPU" || c == "MIXEDGPUS":
		return "Mixed GPUs", true
	case strings.HasPrefix(c, "H100"):
		return spellH100(c[len("H100"):])
	case strings.HasPrefix(c, "H200"):
		rest := c[len("H200"):]
		if rest == "" || reGPUMemory.MatchString(rest) || strings.Contains(rest, "SXM") || strings.Contains(rest, "NVL") {
			return "H200", true
		}
		return "", false
	case strings.HasPrefix(c, "A100"):
		return spellA100(c[len("A100"):])
	}
	if m := reGPUAda.FindStringSubmatch(c); m != nil {
		return "RTX " + m[1] + " Ada", true
	}
	if m := reGPUAmpereWS.FindStringSubmatch(c); m != nil {
		return "RTX A" + m[1], true
	}
	if m := reGPUDataCtr.FindStringSubmatch(c); m != nil {
		return m[1], true
	}
	if m := reGPUGeForce.FindStringSubmatch(c); m != nil {
		return spellGeForce(m[1], m[2], m[3] != "", m[4] != "")
	}
	return "", false
}

func spellH100(rest string) (string, bool) {
	switch {
	case strings.Contains(rest, "SXM") || strings.Contains(rest, "HBM3"):
		return "H100 SXM", true
	case strings.Contains(rest, "NVL"):
		return "H100 NVL", true
	case strings.Contains(rest, "PCIE"):
		return "H100 PCIe", true
	case rest == "" || reGPUMemory.MatchString(rest):
		return "H100", true
	}
	return "", false
}

func spellA100(rest string) (string, bool) {
	switch {
	case strings.Contains(rest, "80"):
		return "A100 80GB", true
	case strings.Contains(rest, "40"):
		return "A100 40GB", true
	case rest == "" || rest == "PCIE" || rest == "SXM" || rest == "SXM4":
		return "A100", true
	}
	return "", false
}

// spellGeForce names a numbered card. The series decides the prefix when it
// can: 10xx and 16xx (and 7xx, 9xx) are GTX, 20xx to 50xx RTX, as are the
// workstation numbers 4000, 4500, 5000, 6000 and 8000. A bare number outside
// those series is not recognised.
func spellGeForce(prefix, num string, ti, super bool) (string, bool) {
	series := ""
	switch {
	case len(num) == 3 && (num[0] == '7' || num[0] == '9'):
		series = "GTX"
	case len(num) == 4 && (num[:2] == "10" || num[:2] == "16"):
		series = "GTX"
	case len(num) == 4 && (num[:2] == "20" || num[:2] == "30" || num[:2] == "40" || num[:2] == "50"):
		series = "RTX"
	case num == "4500" || num == "5000" || num == "6000" || num == "8000":
		series = "RTX"
	}
	switch {
	case prefix == "GT" && series != "RTX":
	case series != "":
		prefix = series
	case prefix == "":
		return "", false
	}
	name := prefix + " " + num
	if ti {
		name += " TI"
	}
	if super {
		name += " SUPER"
	}
	return name, true
}

// MatchGPU returns the marketplace models (canonical names) that a query
// means: the model equal to NormalizeGPU(query), ignoring case, when it is
// offered; else the family, every model whose name starts with the
// normalised query and a space ("H100" -> H100 PCIe, H100 SXM; "RTX 4070" ->
// RTX 4070 Super, RTX 4070 Ti, ... when no plain RTX 4070 is offered).
// The family is sorted; nil when nothing matches.
func MatchGPU(query string, models []string) []string {
	want := NormalizeGPU(query)
	if want == "" {
		return nil
	}
	for _, m := range models {
		if strings.EqualFold(m, want) {
			return []string{m}
		}
	}
	prefix := strings.ToLower(want) + " "
	var family []string
	for _, m := range models {
		if strings.HasPrefix(strings.ToLower(m), prefix) {
			family = append(family, m)
		}
	}
	if len(family) == 0 {
		return nil
	}
	slices.Sort(family)
	return slices.Compact(family)
}

// SuggestGPU returns the model a mistyped query most likely meant, for
// "unknown GPU "rtx 4009", did you mean RTX 4090?": the first match when
// MatchGPU finds any, else the model closest by edit distance, or "" when
// none is close.
func SuggestGPU(query string, models []string) string {
	if m := MatchGPU(query, models); len(m) > 0 {
		return m[0]
	}
	want := strings.ToLower(NormalizeGPU(query))
	if want == "" {
		return ""
	}
	limit := max(2, utf8.RuneCountInString(want)/3)
	best, bestDist := "", limit+1
	for _, m := range models {
		d := gpuNameDistance(want, strings.ToLower(m))
		if d < bestDist || (d == bestDist && m < best) {
			best, bestDist = m, d
		}
	}
	return best
}

// gpuNameDistance is the edit distance from a lower-case query to a
// lower-case model, not counting a series prefix the query left out
// ("3060 tii" is one edit from "rtx 3060 ti").
func gpuNameDistance(query, model string) int {
	const maxCompared = 64
	if len(query) > maxCompared || len(model) > maxCompared {
		return maxCompared
	}
	d := editDistance(query, model)
	for _, prefix := range []string{"rtx ", "gtx ", "gt "} {
		if rest, ok := strings.CutPrefix(model, prefix); ok && !strings.HasPrefix(query, prefix) {
			d = min(d, editDistance(query, rest))
		}
	}
	return d
}

// closestWord returns the candidate nearest to s, if within limit edits.
func closestWord(s string, candidates []string, limit int) string {
	if i := closestIndex(s, candidates, limit); i >= 0 {
		return candidates[i]
	}
	return ""
}

// closestIndex returns the index of the candidate nearest to s (ties go to
// the alphabetically first), or -1 when none is within limit edits.
func closestIndex(s string, candidates []string, limit int) int {
	const maxCompared = 64 // longer strings are never near a name
	if utf8.RuneCountInString(s) > maxCompared {
		return -1
	}
	best, bestDist := -1, limit+1
	for i, c := range candidates {
		if utf8.RuneCountInString(c) > maxCompared {
			continue
		}
		d := editDistance(s, c)
		if d < bestDist || (d == bestDist && best >= 0 && c < candidates[best]) {
			best, bestDist = i, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
