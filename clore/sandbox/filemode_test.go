package sandbox

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The sandbox's state file and its WAL and SHM are the operator's only,
// whatever the umask.
func TestStateFileIsPrivateUnderAPermissiveUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	path := filepath.Join(t.TempDir(), "state", "sandbox.db")
	s, err := New(Options{StatePath: path, APIKey: "k", Servers: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for p, want := range map[string]os.FileMode{path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s is %04o, want %04o", filepath.Base(p), got, want)
		}
	}
}
