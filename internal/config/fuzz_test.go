package config

import (
	"strings"
	"testing"
)

// FuzzDecodeFile checks that no document panics the decoder, Validate or
// Redacted, and that every failure is reported under "config: ".
func FuzzDecodeFile(f *testing.F) {
	f.Add("[clore]\napi_key = \"k\"\nmax_retries = \"x\"\n")
	f.Add("[[webhook.keys]]\nname = 1\nsecret = [\"s\"]\n")
	f.Add("tomato = 1\n[watch]\ninterval = \"5x\"\n")
	f.Add("[slack]\nbot_token = { x = \"s\" }\n")
	f.Add("[webhook]\nkeys = [{ name = \"a\", secret = \"b\" }, 3]\n")
	f.Fuzz(func(t *testing.T, doc string) {
		c := Defaults()
		err := decodeFile(&c, "fuzz.toml", []byte(doc))
		if err != nil {
			for _, msg := range strings.Split(err.Error(), "\n") {
				if msg != "" && !strings.HasPrefix(msg, "config: ") && !strings.HasPrefix(msg, "  ") {
					t.Errorf("error line %q lacks the config: prefix", msg)
				}
			}
			return
		}
		_ = c.Validate()
		_ = c.Redacted()
	})
}
