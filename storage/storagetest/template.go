package storagetest

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// template is the SQLite database file that CopyTemplate's migrate made,
// once per test binary.
var template struct {
	once sync.Once
	b    []byte
	err  error
}

// CopyTemplate writes to path a copy of a SQLite database file that migrate
// made once for the test binary (Template). A package that opens a hundred
// databases copies one migrated file instead of migrating each: the
// migrations are storage's to test, and under -race each costs most of a
// second of CPU. The caller then opens path itself.
func CopyTemplate(t testing.TB, path string, migrate func(path string) error) {
	t.Helper()
	b, err := Template(migrate)
	if err != nil {
		t.Fatalf("storagetest: migrating the template database: %v", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Template is the content of a SQLite database file that migrate made (it
// opens, migrates and closes the database at the path it is given), once
// per test binary: later calls return the first one's file whatever their
// migrate.
func Template(migrate func(path string) error) ([]byte, error) {
	template.once.Do(func() {
		dir, err := os.MkdirTemp("", "clorebot-template-")
		if err != nil {
			template.err = err
			return
		}
		defer os.RemoveAll(dir)
		p := filepath.Join(dir, "clorebot.db")
		if err := migrate(p); err != nil {
			template.err = err
			return
		}
		if _, err := os.Stat(p + "-wal"); err == nil { // closing checkpoints the log into the file
			template.err = errors.New("the migrated database left its write-ahead log behind")
			return
		}
		template.b, template.err = os.ReadFile(p)
	})
	return template.b, template.err
}
