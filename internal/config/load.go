package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadOptions says where Load finds the configuration.
type LoadOptions struct {
	// Path is the TOML file; empty means DefaultPath.
	Path string
	// PathExplicit is true when the user named Path (--config or CLOREBOT_CONFIG):
	// then a missing file is an error, otherwise the defaults apply.
	PathExplicit bool
	// Environ holds the environment in os.Environ form; only CLOREBOT_ variables
	// are read.
	Environ []string
	// Override runs after the file and the environment and before validation;
	// the CLI's --sandbox sets Clore.Sandbox there.
	Override func(*Config)
	// WithoutClore is for commands that never call Clore (webhook sign,
	// deliveries, audit): clore.api_key may then be missing.
	WithoutClore bool
	// Warn receives one line per problem that does not stop clorebot: an
	// unknown CLOREBOT_ environment variable (orchestrators add their own,
	// such as Kubernetes' CLOREBOT_PORT). Nil: warnings are dropped.
	Warn func(msg string)
	// Platforms are the platforms of the front doors the process can
	// build: policy lists accept their identities ("<platform>:<id>")
	// besides the built-in ones.
	Platforms []string
}

// Load builds the effective configuration: Defaults, then the TOML file, then the
// environment, then opts.Override, then Validate. Every problem is reported, each
// as a *KeyError naming the key (or variable) and why, joined with errors.Join.
func Load(opts LoadOptions) (*Config, error) {
	cfg := Defaults()
	path := opts.Path
	if path == "" {
		path = DefaultPath
	}
	fileErr := loadFile(&cfg, path, opts.PathExplicit)
	fromFile := cfg.Storage.Path
	warnings, envErr := applyEnv(&cfg, opts.Environ)
	if fileErr == nil && cfg.Storage.Path == fromFile && !envSet(opts.Environ, "CLOREBOT_STORAGE_PATH") {
		anchorStorage(&cfg, path)
	}
	if opts.Warn != nil {
		for _, w := range warnings {
			opts.Warn(w)
		}
	}
	if err := errors.Join(fileErr, envErr); err != nil {
		return nil, err
	}
	if opts.Override != nil {
		opts.Override(&cfg)
	}
	check := cfg
	if opts.WithoutClore && check.Clore.APIKey == "" {
		check.Clore.Sandbox = true // only to spare the key's requirement
	}
	if err := check.validate(opts.Platforms); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// loadFile applies the TOML file at path to cfg and reads the secret_file of
// every webhook key and subscriber.
func loadFile(cfg *Config, path string, explicit bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config: read config file: %w", err)
	}
	if err := decodeFile(cfg, path, data); err != nil {
		return err
	}
	return resolveSecretFiles(cfg)
}

// resolveSecretFiles replaces each secret_file of the arrays of tables by the
// file's content.
func resolveSecretFiles(cfg *Config) error {
	var errs []error
	for i := range cfg.Webhook.Keys {
		k := &cfg.Webhook.Keys[i]
		errs = append(errs, resolveSecretFile(fmt.Sprintf("webhook.keys[%d]", i), &k.Secret, k.SecretFile))
	}
	for i := range cfg.Webhook.Subscribers {
		s := &cfg.Webhook.Subscribers[i]
		errs = append(errs, resolveSecretFile(fmt.Sprintf("webhook.subscribers[%d]", i), &s.Secret, s.SecretFile))
	}
	return errors.Join(errs...)
}

func resolveSecretFile(prefix string, secret *Secret, path string) error {
	if path == "" {
		return nil
	}
	key := prefix + ".secret_file"
	if *secret != "" {
		return &KeyError{Key: key, Problem: "set either secret or secret_file, not both"}
	}
	s, err := readSecretFile(path)
	if err != nil {
		return &KeyError{Key: key, Problem: "read secret file", Err: err}
	}
	*secret = Secret(s)
	return nil
}

// anchorStorage resolves a relative storage.path — written in the file at
// path, or the default — against that file's directory when the file
// exists, so that every command given the same --config opens the same
// database wherever it runs (clorebot exec from another directory used to
// create a new, empty one). Given is what it was before.
// Without a file the working directory stays the anchor: the default
// configuration file would be there too. A path from the environment is
// the caller's own and is left as it is.
func anchorStorage(cfg *Config, path string) {
	p := cfg.Storage.Path
	if p == "" || filepath.IsAbs(p) || p == ":memory:" || strings.HasPrefix(p, "file:") { // the last two: refused by Validate
		return
	}
	if _, err := os.Stat(path); err != nil {
		return
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return
	}
	cfg.Storage.Given = p
	cfg.Storage.Path = filepath.Join(dir, p)
}

// envSet reports whether environ sets name (or its _FILE form).
func envSet(environ []string, name string) bool {
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if k == name || k == name+fileSuffix {
			return true
		}
	}
	return false
}
