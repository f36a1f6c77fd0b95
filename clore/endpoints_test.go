package clore

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// Endpoints lists every endpoint a call in this package names, so that
// metrics show each one from start.
func TestEndpointsListsEveryCall(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range files {
		if filepath.Ext(f) != ".go" || len(f) > 8 && f[len(f)-8:] == "_test.go" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`endpoint:\s*"(\w+)"`).FindAllStringSubmatch(string(b), -1) {
			seen++
			if !slices.Contains(Endpoints(), m[1]) {
				t.Errorf("%s calls endpoint %q, which Endpoints() lacks", f, m[1])
			}
		}
	}
	if seen < len(Endpoints()) {
		t.Errorf("found %d calls, fewer than the %d endpoints listed", seen, len(Endpoints()))
	}
}
