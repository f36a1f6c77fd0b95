// Package whsec reads a configured webhook secret into its HMAC key, the one
// rule that both the configuration's validation and the webhook front door
// apply, so that `config check` refuses exactly what `serve` would.
package whsec

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Prefix marks a Standard Webhooks secret whose key is the base64 after it.
const Prefix = "whsec_"

// Parse turns a configured secret into an HMAC key: "whsec_" followed by
// base64 is decoded (padding optional); any other string is used as its raw
// bytes. An empty secret, or bad or empty base64 after "whsec_", is an error
// that never quotes the secret.
func Parse(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	enc, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return []byte(s), nil
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		var rawErr error
		if key, rawErr = base64.RawStdEncoding.DecodeString(enc); rawErr != nil {
			// CorruptInputError carries only an offset, never the input.
			return nil, fmt.Errorf("the part after %s is not base64: %w", Prefix, err)
		}
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("nothing after %s", Prefix)
	}
	return key, nil
}
