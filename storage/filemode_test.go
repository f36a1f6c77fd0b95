package storage

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The database holds SSH passwords until they are delivered: under the
// most permissive umask, the database, its WAL and SHM files are still
// 0600 and the directories clorebot creates 0700.
func TestFilesArePrivateUnderAPermissiveUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	base := t.TempDir()
	path := filepath.Join(base, "data", "clorebot", "clorebot.db")
	s, err := OpenAndMigrate(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAudit(context.Background(), AuditEntry{Actor: "cli:x", Command: "help", Outcome: "ok"}); err != nil { // the WAL fills
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600,
		filepath.Join(base, "data"): 0o700, filepath.Join(base, "data", "clorebot"): 0o700,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s is %04o, want %04o", filepath.Base(p), got, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A database left world-readable by an earlier version is narrowed.
	loose := filepath.Join(base, "old.db")
	s, err = OpenAndMigrate(context.Background(), loose)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(context.Background(), loose)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o600 {
		t.Errorf("existing database left %04o", fi.Mode().Perm())
	}
}
