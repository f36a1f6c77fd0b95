package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/clorebot/clorebot/internal/config"
	"github.com/clorebot/clorebot/storage"
)

// storageOptions is the configured database: PostgreSQL at storage.url
// when it is set, else the SQLite file at storage.path.
func storageOptions(cfg *config.Config) storage.Options {
	return storage.Options{Path: cfg.Storage.Path, URL: cfg.Storage.URL.Reveal()}
}

// seedDatabase, set only by the tests (TestMain, template_test.go), may
// write the SQLite file at path before a command opens it (seeded), when no file is
// there yet: a copy of one database the test binary migrated once, so that
// each test's serve and exec need not migrate it again. Nil in the clorebot
// binary.
var seedDatabase func(path string) error

// seeded runs seedDatabase, when set, on cfg's SQLite file.
func seeded(cfg *config.Config) error {
	if seedDatabase == nil || cfg.Storage.URL.Reveal() != "" {
		return nil
	}
	return seedDatabase(cfg.Storage.Path)
}

// openStorage opens the configured database (seeded first in the tests):
// what serve and migrate open.
func openStorage(ctx context.Context, cfg *config.Config) (*storage.Store, error) {
	if err := seeded(cfg); err != nil {
		return nil, err
	}
	return storage.OpenConfig(ctx, storageOptions(cfg))
}

// openMigrated is openStorage, migrated: what the CLI's readers (audit,
// spend, deliveries) open.
func openMigrated(ctx context.Context, cfg *config.Config) (*storage.Store, error) {
	if err := seeded(cfg); err != nil {
		return nil, err
	}
	return storage.OpenConfigAndMigrate(ctx, storageOptions(cfg))
}

// storageName names the configured database in messages and logs: the
// file, or the URL without its secrets.
func storageName(cfg *config.Config) string {
	if u := cfg.Storage.URL.Reveal(); u != "" {
		return config.RedactURL(u)
	}
	return cfg.Storage.Path
}

// movedDatabase refuses a configuration whose relative storage.path now
// names a file that does not exist, in the configuration file's directory,
// while the same path from the working directory (where earlier versions
// looked) does: serve would start on an empty database, unaware of the
// orders it must cancel at their end.
func movedDatabase(cfg *config.Config) error {
	if cfg.Storage.Given == "" || cfg.Storage.URL != "" {
		return nil
	}
	old, err := filepath.Abs(cfg.Storage.Given)
	if err != nil || old == cfg.Storage.Path || !exists(old) || exists(cfg.Storage.Path) {
		return nil
	}
	return fmt.Errorf("storage.path %q is relative to the configuration file's directory: %s does not exist, "+
		"but %s (the same path from the working directory, where clorebot looked before) does; "+
		"move the database (with its -wal and -shm files) there, or set an absolute storage.path",
		cfg.Storage.Given, cfg.Storage.Path, old)
}

// checkDatabase is exec's rule for a database that does not exist yet:
// against real Clore it refuses, because an exec on a new, empty database
// would rent orders that the clorebot serve watching the real one never
// sees, nor cancels at their end; in the sandbox it says that it starts a
// new one (the sandbox's marketplace state lives beside it).
func checkDatabase(e *env, cfg *config.Config) error {
	if cfg.Storage.URL != "" {
		return nil // a server's database: serve and exec share it by its URL
	}
	path := cfg.Storage.Path
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if exists(path) {
		return nil
	}
	if cfg.Clore.Sandbox {
		fmt.Fprintf(e.stderr, "clorebot: note: new database %s (storage.path): the sandbox starts with no orders\n", path)
		return nil
	}
	return &usageError{fmt.Errorf("database %s (storage.path) does not exist: exec would start an empty one "+
		"that no clorebot serve watches; run exec with the --config of your serve (a relative storage.path "+
		"is relative to that file), or set CLOREBOT_STORAGE_PATH, or create it with `clorebot migrate`", path)}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
