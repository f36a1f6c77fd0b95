// Package golden compares what a test produced with a file under the
// package's testdata directory, the expected output kept in the
// repository: rendered Slack and Discord payloads, reply text, CLI output.
// Run the tests with -update to rewrite the files from what they produce
// (then read the diff before committing it).
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files from what the tests produce")

// Equal compares got with the file at path (relative to the test's
// package, e.g. testdata/help.json). With -update it writes got to path
// first, creating the directory, so that the comparison passes.
func Equal(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// JSON is Equal for v written as indented JSON with a final newline.
func JSON(t testing.TB, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	Equal(t, path, append(got, '\n'))
}
