package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// applyEnv applies the CLOREBOT_<SECTION>_<KEY> variables of environ (in
// os.Environ form) to cfg. Secret keys may instead name a file in
// CLOREBOT_<SECTION>_<KEY>_FILE. Unknown CLOREBOT_ variables are ignored with
// one warning each (orchestrators add their own: Kubernetes service links
// add CLOREBOT_PORT, CLOREBOT_SERVICE_HOST, ... for a Service named
// clorebot); CLOREBOT_CONFIG is the CLI's. When a variable appears twice the
// first wins, as with os.Getenv.
func applyEnv(cfg *Config, environ []string) (warnings []string, err error) {
	known := map[string]bool{}
	for _, f := range fields() {
		if f.Env != "" {
			known[f.Env] = true
			known[f.EnvFile()] = f.Secret
		}
	}
	env := map[string]string{}
	var errs []error
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || name == envConfigPath {
			continue
		}
		if _, seen := env[name]; seen {
			continue
		}
		if !known[name] {
			warnings = append(warnings, unknownEnv(name))
			continue
		}
		env[name] = val
	}
	for _, f := range fields() {
		if f.Env == "" {
			continue
		}
		if err := applyEnvField(cfg, f, env); err != nil {
			errs = append(errs, err)
		}
	}
	return warnings, errors.Join(errs...)
}

func applyEnvField(cfg *Config, f field, env map[string]string) error {
	val, direct := env[f.Env]
	path, fromFile := env[f.EnvFile()]
	switch {
	case direct && fromFile:
		return &KeyError{Key: f.Key, Problem: fmt.Sprintf("set either %s or %s, not both", f.Env, f.EnvFile())}
	case fromFile:
		s, err := readSecretFile(path)
		if err != nil {
			return &KeyError{Key: f.Key, Problem: "read " + f.EnvFile(), Err: err}
		}
		val = s
	case !direct:
		return nil
	}
	if err := setFromString(f.value(cfg), val); err != nil {
		return &KeyError{Key: f.Key, Problem: fmt.Sprintf("%s (from %s)", err, f.Env)}
	}
	return nil
}

// unknownEnv is the warning for an unknown variable; it never quotes the
// value.
func unknownEnv(name string) string {
	problem := "unknown environment variable, ignored (clorebot reads CLOREBOT_<SECTION>_<KEY>, e.g. CLOREBOT_CLORE_API_KEY)"
	if base, ok := strings.CutSuffix(name, fileSuffix); ok {
		for _, f := range fields() {
			if f.Env == base {
				problem = fmt.Sprintf("unknown environment variable, ignored: %s is not a secret, only secrets are read from a _FILE", f.Key)
			}
		}
	}
	return "config: " + name + ": " + problem
}

// readSecretFile returns a secret file's content without its trailing newline.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err // an *fs.PathError naming the file; callers say which key
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
