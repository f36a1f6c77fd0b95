// Package config owns clorebot's configuration: the Config type and its defaults,
// loading from one TOML file plus CLOREBOT_<SECTION>_<KEY> environment variables
// (secrets also from <...>_FILE), validation that names the bad key and why, and the
// redacted rendering that `clorebot config check` prints.
//
// One reflective table of keys, built from the toml tags of Config, serves the file
// decoder, the environment mapping, validation messages and the tests that keep
// config.example.toml complete. Secrets are typed (Secret) so that fmt, slog, JSON and
// TOML output show "[redacted]" and only an explicit Reveal yields the value.
package config
