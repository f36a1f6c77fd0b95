package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// keyErrors flattens an error tree built with errors.Join into its *KeyErrors.
func keyErrors(err error) []*KeyError {
	var out []*KeyError
	var walk func(error)
	walk = func(e error) {
		if ke, ok := e.(*KeyError); ok {
			out = append(out, ke)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
		}
	}
	walk(err)
	return out
}

// wantKeyError fails unless err holds a *KeyError for key whose message contains
// every fragment, and its Error() starts with "config: <key>: ".
func wantKeyError(t *testing.T, err error, key string, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one for %s", key)
	}
	for _, ke := range keyErrors(err) {
		if ke.Key != key {
			continue
		}
		msg := ke.Error()
		if !strings.HasPrefix(msg, "config: "+key+": ") {
			t.Errorf("message %q does not start with the key", msg)
		}
		for _, f := range fragments {
			if !strings.Contains(msg, f) {
				t.Errorf("message %q lacks %q", msg, f)
			}
		}
		return
	}
	t.Fatalf("no error for key %s in:\n%v", key, err)
}

// writeFile writes content to name in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadTOML loads content as an explicit config file with the given environment.
func loadTOML(t *testing.T, content string, environ ...string) (*Config, error) {
	t.Helper()
	return Load(LoadOptions{Path: writeFile(t, "clorebot.toml", content), PathExplicit: true, Environ: environ})
}

// sandboxed is a valid base configuration without Clore credentials.
func sandboxed() Config {
	c := Defaults()
	c.Clore.Sandbox = true
	return c
}

func TestKeyErrorsHelper(t *testing.T) {
	err := errors.Join(&KeyError{Key: "a", Problem: "x"}, errors.Join(&KeyError{Key: "b", Problem: "y"}))
	if got := len(keyErrors(err)); got != 2 {
		t.Fatalf("keyErrors found %d, want 2", got)
	}
}
