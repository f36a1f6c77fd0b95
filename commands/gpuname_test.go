package commands_test

import (
	"reflect"
	"testing"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
)

var normalizeGPUCases = []struct{ in, want string }{
	{"4090", "RTX 4090"},
	{"rtx4090", "RTX 4090"},
	{"RTX 4090", "RTX 4090"},
	{"rtx-4090", "RTX 4090"},
	{"rtx_4090", "RTX 4090"},
	{"  rtx   4090 ", "RTX 4090"},
	{"nvidia geforce rtx 4090", "RTX 4090"},
	{"4090 24gb", "RTX 4090"},
	{"3060ti", "RTX 3060 Ti"},
	{"rtx 3060 ti", "RTX 3060 Ti"},
	{"RTX 3060 Ti", "RTX 3060 Ti"},
	{"4070 ti super", "RTX 4070 Ti Super"},
	{"4080super", "RTX 4080 Super"},
	{"1080ti", "GTX 1080 Ti"},
	{"rtx 1080", "GTX 1080"},
	{"1660 super", "GTX 1660 Super"},
	{"gtx 3090", "RTX 3090"},
	{"gt 1030", "GT 1030"},
	{"970", "GTX 970"},
	{"5090", "RTX 5090"},
	{"2080 ti", "RTX 2080 Ti"},
	{"a100 80gb", "A100 80GB"},
	{"A100-80G", "A100 80GB"},
	{"a100 80", "A100 80GB"},
	{"A100-SXM4-80GB", "A100 80GB"},
	{"a100 40gb", "A100 40GB"},
	{"a100", "A100"},
	{"A100 PCIe", "A100"},
	{"h100", "H100"},
	{"h100 80gb", "H100"},
	{"h100 sxm", "H100 SXM"},
	{"H100-SXM5-80GB", "H100 SXM"},
	{"h100 pcie", "H100 PCIe"},
	{"h100 nvl", "H100 NVL"},
	{"h200", "H200"},
	{"a6000", "RTX A6000"},
	{"rtx a6000", "RTX A6000"},
	{"a4000 16gb", "RTX A4000"},
	{"6000 ada", "RTX 6000 Ada"},
	{"rtx 6000 ada generation", "RTX 6000 Ada"},
	{"2000ada", "RTX 2000 Ada"},
	{"6000", "RTX 6000"},
	{"quadro rtx 8000", "RTX 8000"},
	{"l40s", "L40S"},
	{"L40", "L40"},
	{"l40 48gb", "L40"},
	{"l4", "L4"},
	{"a10g", "A10G"},
	{"a40", "A40"},
	{"tesla v100 32gb", "V100"},
	{"t4", "T4"},
	{"b200", "B200"},
	{"mixed", "Mixed GPUs"},
	{"Mixed GPUs", "Mixed GPUs"},
	// not recognised: whitespace collapsed, otherwise as typed
	{"", ""},
	{"   ", ""},
	{"banana", "banana"},
	{"rtx  pro   6000", "rtx pro 6000"},
	{"4090 32", "4090 32"},
	{"1234", "1234"},
	{"rtx 4090 xyz", "rtx 4090 xyz"},
	{"a100 sxm9", "a100 sxm9"},
	{"nvidia", "nvidia"},
}

func TestNormalizeGPU(t *testing.T) {
	for _, tc := range normalizeGPUCases {
		t.Run(tc.in, func(t *testing.T) {
			got := commands.NormalizeGPU(tc.in)
			if got != tc.want {
				t.Errorf("NormalizeGPU(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := commands.NormalizeGPU(got); again != got {
				t.Errorf("not idempotent: NormalizeGPU(%q) = %q", got, again)
			}
		})
	}
}

// TestNormalizeGPUSpellsLikeMarketplace checks that every model name a
// query normalises to is spelled as clore.CanonicalGPU spells marketplace
// models, so that MatchGPU's comparison is exact. The bare families A100
// and H100 are the intended exceptions.
func TestNormalizeGPUSpellsLikeMarketplace(t *testing.T) {
	for _, q := range []string{
		"4090", "3060ti", "4070 ti super", "1080ti", "a100 80", "a100 40gb", "h100 sxm", "h100 pcie", "h100 nvl",
		"h200", "a6000", "6000 ada", "l40s", "l4", "a10g", "v100", "t4", "mixed", "gt 1030", "6000",
	} {
		n := commands.NormalizeGPU(q)
		if c := clore.CanonicalGPU(n, 0); c != n {
			t.Errorf("NormalizeGPU(%q) = %q, but CanonicalGPU of it is %q", q, n, c)
		}
	}
	// Host-reported names normalise to the same model as CanonicalGPU.
	for _, host := range []string{"NVIDIA GeForce RTX 4090", " RTX 3090", "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3",
		"NVIDIA RTX A6000", "NVIDIA RTX 6000 Ada Generation", "NVIDIA L40S", "NVIDIA GeForce RTX 4070 Ti SUPER", "NVIDIA GeForce GTX 1080 Ti"} {
		if got, want := commands.NormalizeGPU(host), clore.CanonicalGPU(host, 0); got != want {
			t.Errorf("NormalizeGPU(%q) = %q, CanonicalGPU = %q", host, got, want)
		}
	}
}

var marketModels = []string{
	"RTX 4090", "RTX 3090", "RTX 3060 Ti", "RTX 4070 Ti", "RTX 4070 Super", "RTX 4070 Ti Super",
	"A100 80GB", "A100 40GB", "H100 SXM", "H100 PCIe", "RTX A6000", "RTX 6000 Ada", "L40S", "GTX 1080 Ti",
}

func TestMatchGPU(t *testing.T) {
	tests := []struct {
		query  string
		models []string
		want   []string
	}{
		{"4090", marketModels, []string{"RTX 4090"}},
		{"rtx4090", marketModels, []string{"RTX 4090"}},
		{"a100 80gb", marketModels, []string{"A100 80GB"}},
		{"a100", marketModels, []string{"A100 40GB", "A100 80GB"}},
		{"H100", marketModels, []string{"H100 PCIe", "H100 SXM"}},
		{"h100 sxm", marketModels, []string{"H100 SXM"}},
		{"4070", marketModels, []string{"RTX 4070 Super", "RTX 4070 Ti", "RTX 4070 Ti Super"}},
		{"4070", append([]string{"RTX 4070"}, marketModels...), []string{"RTX 4070"}},
		{"4070 ti", marketModels, []string{"RTX 4070 Ti"}},
		{"6000", marketModels, []string{"RTX 6000 Ada"}},
		{"rtx 4090", []string{"rtx 4090"}, []string{"rtx 4090"}},
		{"A100", []string{"A100 80GB", "A100 80GB"}, []string{"A100 80GB"}},
		{"rtx pro 6000", []string{"RTX PRO 6000"}, []string{"RTX PRO 6000"}},
		{"h100 nvl", marketModels, nil},
		{"5090", marketModels, nil},
		{"", marketModels, nil},
		{"4090", nil, nil},
		{"RTX 409", marketModels, nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			if got := commands.MatchGPU(tc.query, tc.models); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("MatchGPU(%q) = %q, want %q", tc.query, got, tc.want)
			}
		})
	}
}

func TestSuggestGPU(t *testing.T) {
	tests := []struct{ query, want string }{
		{"rtx 4009", "RTX 4090"},
		{"rtx 409", "RTX 4090"},
		{"3060 tii", "RTX 3060 Ti"},
		{"l40", "L40S"},
		{"a6001", "RTX A6000"},
		{"a100", "A100 40GB"}, // a family: its first model
		{"4090", "RTX 4090"},
		{"banana", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			if got := commands.SuggestGPU(tc.query, marketModels); got != tc.want {
				t.Errorf("SuggestGPU(%q) = %q, want %q", tc.query, got, tc.want)
			}
		})
	}
	if got := commands.SuggestGPU("4090", nil); got != "" {
		t.Errorf("SuggestGPU with no models = %q", got)
	}
}
