package sandbox

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// createRace fires n concurrent create_order calls for server at srv and
// counts successes.
func createRace(srv *Server, server int64, n int) (wins int64) {
	body := fmt.Sprintf(`{"renting_server":%d,"type":"on-demand","currency":"USD-Blockchain","image":"x/y:1"}`, server)
	var wg sync.WaitGroup
	var won atomic.Int64
	for range n {
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodPost, "/v1/create_order", strings.NewReader(body))
			req.Header.Set("auth", testKey)
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, req)
			if w.Body.String() == `{"code":0}` {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	return won.Load()
}

// TestHelperProcess is the child of TestCrossProcessCreates; it does
// nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("SANDBOX_CHILD_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	at, _ := strconv.ParseInt(os.Getenv("SANDBOX_CHILD_AT"), 10, 64)
	server, _ := strconv.ParseInt(os.Getenv("SANDBOX_CHILD_SERVER"), 10, 64)
	srv, err := New(Options{StatePath: filepath.Join(dir, "state.db"), APIKey: testKey, Servers: 400,
		Now: func() time.Time { return time.UnixMilli(at) }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, filepath.Join(dir, "go"))
	sleepUntilStart(t, filepath.Join(dir, "go"))
	fmt.Printf("wins=%d\n", createRace(srv, server, 5))
}

// sleepUntilStart waits for the wall-clock instant written in path, so
// that both processes fire at once.
func sleepUntilStart(t *testing.T, path string) {
	t.Helper()
	var start int64
	for range 100 { // the writer may not have finished writing yet
		raw, _ := os.ReadFile(path)
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			start = n
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Until(time.Unix(0, start)))
}

// waitForFile polls for a file for up to 20 s.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s never appeared", path)
}

func TestCrossProcessCreates(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	sb := newSandbox(t, Options{StatePath: filepath.Join(dir, "state.db")})
	s := sb.freeServer(t, currencyUSD, "")

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "SANDBOX_CHILD_DIR="+dir,
		fmt.Sprintf("SANDBOX_CHILD_AT=%d", sb.clock.Now().UnixMilli()),
		fmt.Sprintf("SANDBOX_CHILD_SERVER=%d", s.ID))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, filepath.Join(dir, "ready"))
	start := time.Now().Add(50 * time.Millisecond).UnixNano()
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(strconv.FormatInt(start, 10)), 0o600); err != nil {
		t.Fatal(err)
	}
	sleepUntilStart(t, filepath.Join(dir, "go"))
	parentWins := createRace(sb.srv, s.ID, 5)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	_, after, ok := strings.Cut(out.String(), "wins=")
	childWins, err := strconv.ParseInt(strings.Fields(after + " x")[0], 10, 64)
	if !ok || err != nil {
		t.Fatalf("child output: %s", out.String())
	}
	t.Logf("parent won %d, child won %d", parentWins, childWins)
	if parentWins+childWins != 1 {
		t.Errorf("parent won %d, child won %d: want exactly one success", parentWins, childWins)
	}
	if n := len(sb.orders(t, false)); n != 1 {
		t.Errorf("%d orders stored, want 1", n)
	}
}
