package config

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// redacted is what every rendering of a non-empty Secret shows.
const redacted = "[redacted]"

// Secret is a credential. Every way of printing it (fmt verbs, slog, JSON, TOML)
// shows "[redacted]", or "" when it is empty; Reveal returns the value.
type Secret string

// Reveal returns the secret's value, for the one call that needs it.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString makes %#v show "[redacted]", or "" for an empty secret.
func (s Secret) GoString() string { return s.String() }

// Format makes every fmt verb (%v, %s, %q, %x, %d, ...) show the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	fmt.Fprint(f, s.String())
}

// LogValue makes slog show the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText is used for display (TOML, JSON); it yields the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText stores the value as given.
func (s *Secret) UnmarshalText(text []byte) error {
	*s = Secret(text)
	return nil
}

// Duration is a time.Duration written as a Go duration string ("30s", "5m", "24h").
type Duration struct {
	time.Duration
}

// UnmarshalText parses a Go duration string; the error names the value.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"30s\", \"5m\", \"24h\")", text)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the shortest Go duration string: "1m", not "1m0s".
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(formatDuration(d.Duration)), nil
}

// String is the same as MarshalText.
func (d Duration) String() string { return formatDuration(d.Duration) }

func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
