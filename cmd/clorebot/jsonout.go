package main

import (
	"encoding/json"
	"io"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/clorebot/clorebot/commands"
)

// The --json documents of doctor, version and config check, in the
// vocabulary of every machine answer (commands' shapes): the chat-like
// text of a line is its message, absent values are null. Their schemas
// are docs/schema/doctor.json, version.json and config-check.json.

// doctorReport is `doctor --json`.
type doctorReport struct {
	Checks   []doctorCheck `json:"checks"`
	OK       int           `json:"ok"`
	Warnings int           `json:"warnings"`
	Failed   int           `json:"failed"`
}

// doctorCheck is one check: its level (ok, warning, failed), what was
// checked, what was found and, unless ok, what to do about it.
type doctorCheck struct {
	Level   string  `json:"level"`
	Name    string  `json:"name"`
	Message string  `json:"message"`
	Fix     *string `json:"fix"`
}

func writeDoctorJSON(w io.Writer, lines []checkLine, count map[string]int) error {
	r := doctorReport{Checks: make([]doctorCheck, 0, len(lines)), OK: count[levelOK],
		Warnings: count[levelWarning], Failed: count[levelFailed]}
	for _, l := range lines {
		c := doctorCheck{Level: l.Level, Name: l.Check, Message: l.Found}
		if l.Level != levelOK {
			c.Fix = commands.Nullable(l.Fix)
		}
		r.Checks = append(r.Checks, c)
	}
	return writeJSONDoc(w, r)
}

// versionReport is `version --json`.
type versionReport struct {
	Version string     `json:"version"`
	Commit  *string    `json:"commit"`
	Date    *time.Time `json:"date"`
	Go      *string    `json:"go"`
	// Modified is true for a build of uncommitted changes.
	Modified bool `json:"modified"`
}

func newVersionReport(b buildInfo) versionReport {
	r := versionReport{Version: b.Version, Commit: commands.Nullable(b.Commit), Go: commands.Nullable(b.Go), Modified: b.Modified}
	if t, err := time.Parse(time.RFC3339, b.Date); err == nil {
		r.Date = commands.UTCTime(t)
	}
	return r
}

// configReport is `config check --json` for a valid configuration: where
// it came from and the effective configuration, secrets redacted, as
// sections of keys (the TOML file's structure).
type configReport struct {
	Valid  bool           `json:"valid"`
	Source string         `json:"source"`
	Config map[string]any `json:"config"`
}

// configError is `config check --json` for an invalid configuration.
type configError struct {
	Valid bool `json:"valid"`
	commands.ErrorInfo
	Source string `json:"source"`
}

// redactedConfig decodes the redacted TOML rendering back into sections.
func redactedConfig(redacted string) (map[string]any, error) {
	m := map[string]any{}
	if _, err := toml.Decode(redacted, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// writeJSONDoc writes v as one JSON document, indented for people, without
// HTML escaping (messages hold <, > and &).
func writeJSONDoc(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
