package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/clorebot/clorebot/storage"
)

// template is a SQLite database migrated once for the test binary, the
// file seedFromTemplate copies.
var template struct {
	once sync.Once
	b    []byte
	err  error
}

// freshDirs holds the directories whose databases serve and exec must
// create and migrate themselves (freshDatabaseIn).
var freshDirs sync.Map

// freshDatabaseIn has serve and exec create and migrate, as the clorebot
// binary does, a database that does not exist yet in dir, for a test about
// that first migration.
func freshDatabaseIn(t *testing.T, dir string) {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	freshDirs.Store(abs, true)
	t.Cleanup(func() { freshDirs.Delete(abs) })
}

// seedFromTemplate is the tests' seedDatabase: it writes a copy of the
// template at path unless a file is there already or path's directory asks
// for a fresh database. openCore then migrates the copy as it would any
// database, finding nothing left to apply: the migrations are storage's to
// test, and under -race each database's cost most of a second of CPU.
func seedFromTemplate(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil // storage says what is wrong with path
	}
	if _, fresh := freshDirs.Load(filepath.Dir(abs)); fresh {
		return nil
	}
	template.once.Do(func() {
		dir, err := os.MkdirTemp("", "clorebot-template-")
		if err != nil {
			template.err = err
			return
		}
		defer os.RemoveAll(dir)
		p := filepath.Join(dir, "clorebot.db")
		st, err := storage.OpenAndMigrate(context.Background(), p)
		if err != nil {
			template.err = err
			return
		}
		if err := st.Close(); err != nil {
			template.err = err
			return
		}
		if _, err := os.Stat(p + "-wal"); err == nil { // closing checkpoints the log into the file
			template.err = errors.New("the migrated template left its write-ahead log behind")
			return
		}
		template.b, template.err = os.ReadFile(p)
	})
	if template.err != nil {
		return template.err
	}
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil // there already, or not to be made here: storage opens or refuses it
	}
	if _, err := f.Write(template.b); err != nil {
		f.Close()
		os.Remove(abs)
		return err
	}
	return f.Close()
}
