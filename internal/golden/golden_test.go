package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records failures instead of stopping.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()                      {}
func (r *recorder) Errorf(string, ...any)        { r.failed = true }
func (r *recorder) Fatalf(string, ...any)        { r.failed = true }
func (r *recorder) Fatal(...any)                 { r.failed = true }
func (r *recorder) Logf(format string, a ...any) {}

func TestEqualAndUpdate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "testdata", "x.json")

	r := &recorder{TB: t}
	Equal(r, path, []byte("a\n"))
	if !r.failed {
		t.Error("a missing golden file passed")
	}

	*update = true
	r = &recorder{TB: t}
	JSON(r, path, map[string]int{"n": 1})
	*update = false
	if r.failed {
		t.Fatal("-update failed")
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "{\n  \"n\": 1\n}\n" {
		t.Fatalf("written %q, %v", b, err)
	}

	r = &recorder{TB: t}
	JSON(r, path, map[string]int{"n": 1})
	if r.failed {
		t.Error("the same output failed")
	}
	r = &recorder{TB: t}
	JSON(r, path, map[string]int{"n": 2})
	if !r.failed {
		t.Error("a different output passed")
	}
}
