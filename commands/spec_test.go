package commands_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

// The grammar front doors register and explain (Grammar) is the parser's:
// every flag the parser knows is described, summaries fit Discord's 100
// characters, and each range's bounds are where the parser's are.
func TestGrammarMatchesParser(t *testing.T) {
	specs := commands.Grammar()
	if len(specs) != 9 {
		t.Fatalf("%d commands, want 9", len(specs))
	}
	for _, s := range specs {
		if n := len(s.Summary); n == 0 || n > 100 {
			t.Errorf("%s: summary of %d characters", s.Name, n)
		}
		if len(s.Usage) == 0 || commands.Usage(s.Name) != strings.Join(s.Usage, "\n") {
			t.Errorf("%s: usage %q is not the parser's", s.Name, s.Usage)
		}
		for _, f := range s.Forms {
			for _, p := range f.Params {
				if n := len(p.Summary); n == 0 || n > 100 {
					t.Errorf("%s %s: summary of %d characters", s.Name, p.Name, n)
				}
				if p.Flag && !strings.Contains(strings.Join(s.Usage, " "), "--"+p.Name) {
					t.Errorf("%s: flag --%s is not in the usage %q", s.Name, p.Name, s.Usage)
				}
			}
		}
	}
	// Bounds: the largest value parses, anything above does not.
	tests := []struct{ ok, bad string }{
		{"rent 4090 16", "rent 4090 17"},
		{"rent 4090 --max-price 1000", "rent 4090 --max-price 1000.01"},
		{"rent 4090 --hours 8760", "rent 4090 --hours 8761"},
		{"extend 5 8760", "extend 5 8761"},
		{"watch 4090 1000", "watch 4090 1000.01"},
		{"watch 4090 1 --count 16", "watch 4090 1 --count 17"},
		{"watch 4090 1 --for 90d", "watch 4090 1 --for 91d"},
	}
	for _, tt := range tests {
		if _, err := commands.Parse(tt.ok); err != nil {
			t.Errorf("%q: %v", tt.ok, err)
		}
		if _, err := commands.Parse(tt.bad); err == nil {
			t.Errorf("%q parsed", tt.bad)
		}
	}
	limits := map[string]float64{}
	for _, s := range specs {
		for _, f := range s.Forms {
			for _, p := range f.Params {
				limits[fmt.Sprintf("%s.%s", s.Name, p.Name)] = p.Max
			}
		}
	}
	for k, want := range map[string]float64{"rent.count": 16, "rent.max-price": 1000, "rent.hours": 8760,
		"extend.hours": 8760, "watch.max-price": 1000, "watch.count": 16} {
		if limits[k] != want {
			t.Errorf("%s: Max %v, want %v", k, limits[k], want)
		}
	}
}
