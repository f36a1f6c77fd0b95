package main

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/clorebot/clorebot/storage"
	"github.com/clorebot/clorebot/storage/storagetest"
)

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
	b, err := storagetest.Template(func(p string) error {
		st, err := storage.OpenAndMigrate(context.Background(), p)
		if err != nil {
			return err
		}
		return st.Close()
	})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil // there already, or not to be made here: storage opens or refuses it
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(abs)
		return err
	}
	return f.Close()
}
