package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/clorebot/clorebot/internal/golden"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fastSandbox makes sandbox orders provision quickly, the limiter short and
// the marketplace small (each exec starts its own sandbox and loads it).
var fastSandbox = []string{
	"CLOREBOT_SANDBOX_PROVISION_DELAY=300ms", "CLOREBOT_SANDBOX_SERVERS=500",
	"CLOREBOT_CLORE_MIN_INTERVAL=10ms", "CLOREBOT_CLORE_CREATE_INTERVAL=20ms",
}

func TestExitStatusesAndUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    string
		stderr    string
		notStderr string
	}{
		{name: "bare clorebot prints the usage", args: nil, code: exitUsage, stderr: "Usage: clorebot <command>"},
		{name: "unknown command prints the usage", args: []string{"frobnicate"}, code: exitUsage, stderr: "Commands:"},
		{name: "bad flag prints the command's usage", args: []string{"audit", "--bogus"}, code: exitUsage, stderr: "Usage: clorebot audit"},
		{name: "--version", args: []string{"--version"}, code: exitOK, stdout: "clorebot "},
		{name: "version names the commit", args: []string{"version"}, code: exitOK, stdout: "(commit "},
		{name: "refused command exits 1", args: []string{"exec", "--sandbox", "--as", "slack:U9", "rent", "3090"}, code: exitFailure, stdout: "denied:"},
		{name: "bad command exits 1 with its usage", args: []string{"exec", "--sandbox", "rent"}, code: exitFailure, stdout: "usage: rent"},
		{name: "exec hides INFO logs", args: []string{"exec", "--sandbox", "help"}, code: exitOK, notStderr: "level=INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := run(t, dir, nil, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(stderr, tt.stderr) ||
				tt.notStderr != "" && strings.Contains(stderr, tt.notStderr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, stderr)
			}
		})
	}
	// -v shows what exec logs at INFO (a fresh database is migrated).
	fresh := t.TempDir()
	freshDatabaseIn(t, fresh)
	code, _, stderr := run(t, fresh, nil, "-v", "exec", "--sandbox", "status")
	if code != 0 || !strings.Contains(stderr, "database migrated") {
		t.Errorf("-v exec: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestVersionFromLdflags(t *testing.T) {
	old := [3]string{version, commit, date}
	t.Cleanup(func() { version, commit, date = old[0], old[1], old[2] })
	version, commit, date = "1.4.0", "0123456789abcdef0123", "2026-11-28T19:00:00Z"
	if got, want := versionLine(), "clorebot 1.4.0 (commit 0123456789ab, built 2026-11-28T19:00:00Z, "; !strings.HasPrefix(got, want) {
		t.Fatalf("versionLine() = %q, want prefix %q", got, want)
	}
}

func TestConfigCheckNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := run(t, dir, nil, "config", "check", "--sandbox")
	if code != 0 || !strings.Contains(out, "no configuration file (clorebot.toml absent)") || !strings.Contains(stderr, "configuration OK") {
		t.Fatalf("no file: %d\n%s\n%s", code, out, stderr)
	}
	path := filepath.Join(dir, "team.toml")
	if err := os.WriteFile(path, []byte("[clore]\nsandbox = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, dir, nil, "--config", "team.toml", "config", "check")
	if code != 0 || !strings.Contains(out, "configuration file "+path) {
		t.Fatalf("named file: %d\n%s", code, out)
	}
}

func TestHealthURLFollowsListen(t *testing.T) {
	for listen, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/healthz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/healthz",
		"[::]:9001":      "http://[::1]:9001/healthz",
		"10.1.2.3:8081":  "http://10.1.2.3:8081/healthz",
		"localhost:7000": "http://localhost:7000/healthz",
	} {
		if got, err := healthURL(listen); err != nil || got != want {
			t.Errorf("healthURL(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
	if _, err := healthURL("8080"); err == nil {
		t.Error("a listen address without a port is refused")
	}
}

// A rent above confirm_above stops at the confirmation with exit status 3
// and names the confirm command; `exec confirm <job-id>` and `--yes` rent.
func TestExecConfirm(t *testing.T) {
	dir := t.TempDir()
	environ := append([]string{"CLOREBOT_POLICY_CONFIRM_ABOVE=0.001"}, fastSandbox...)
	code, out, stderr := run(t, dir, environ, "exec", "--sandbox", "rent", "3090")
	m := regexp.MustCompile("`clorebot --sandbox exec confirm ([a-z0-9]+)`").FindStringSubmatch(stderr)
	if code != exitPending || m == nil || !strings.Contains(out, "Rent now: clorebot --sandbox exec confirm "+m[1]) {
		t.Fatalf("rent above confirm_above: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	if strings.Contains(out, "Provisioning") {
		t.Fatal("a rent awaiting confirmation ran")
	}
	if code, out, _ := run(t, dir, environ, "exec", "--sandbox", "--as", "slack:U9", "confirm", m[1]); code != exitFailure || !strings.Contains(out, "denied") {
		t.Fatalf("a stranger's confirm: exit %d\n%s", code, out)
	}
	code, out, stderr = run(t, dir, environ, "exec", "--sandbox", "confirm", m[1])
	if code != 0 || !strings.Contains(out, "Confirmed") || !strings.Contains(out, "is running") {
		t.Fatalf("confirm: exit %d\n%s\n%s", code, out, stderr)
	}
	if n := strings.Count(out, "job "+m[1]); n != 1 {
		t.Errorf("the job id is printed %d times, want once:\n%s", n, out)
	}
	code, out, _ = run(t, dir, environ, "exec", "--sandbox", "confirm", m[1])
	if code != 0 || !strings.Contains(out, "already succeeded") {
		t.Fatalf("second confirm: exit %d\n%s", code, out)
	}
	code, out, stderr = run(t, dir, environ, "exec", "--sandbox", "--yes", "rent", "3090")
	if code != 0 || !strings.Contains(out, "Confirmed") || !strings.Contains(out, "is running") {
		t.Fatalf("--yes: exit %d\n%s\n%s", code, out, stderr)
	}
}

// The command line's JSON is one snake_case schema with structured fields;
// testdata/json_schema.golden pins the keys and their JSON types per line type
// (docs/schema/exec-line.json and audit.json are the published contract:
// TestCommandLineJSONKeepsTheContract).
func TestJSONSchemaGolden(t *testing.T) {
	goldenPath, err := filepath.Abs("testdata/json_schema.golden") // before run changes directory
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	environ := append([]string{"CLOREBOT_POLICY_CONFIRM_ABOVE=0.001"}, fastSandbox...)
	var lines []string
	collect := func(name string, want int, args ...string) {
		t.Helper()
		code, out, stderr := run(t, dir, environ, args...)
		if code != want {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, stderr)
		}
		for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
			var v map[string]any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("%v: not JSON: %q", args, l)
			}
			if typ, ok := v["type"].(string); ok {
				name := name + " " + typ
				lines = append(lines, schemaLines(name, "", v)...)
			} else {
				lines = append(lines, schemaLines(name, "", v)...)
			}
		}
	}
	collect("exec", exitPending, "exec", "--sandbox", "--json", "rent", "3090")
	collect("exec", exitOK, "exec", "--sandbox", "--json", "--yes", "--heartbeat", "50ms", "rent", "3090")
	collect("exec", exitOK, "exec", "--sandbox", "--json", "status")
	collect("exec", exitOK, "exec", "--sandbox", "--json", "market", "3090")
	collect("audit", exitOK, "audit", "--sandbox", "--json")
	collect("spend", exitOK, "spend", "--sandbox", "--json")
	lines = dedupSorted(lines)
	got := strings.Join(lines, "\n") + "\n"
	for _, l := range lines {
		key := strings.Fields(l)[2]
		if key != strings.ToLower(key) || strings.ContainsAny(key, "- ") {
			t.Errorf("key not snake_case: %s", l)
		}
	}
	for _, want := range []string{
		"exec result .job_id string", "exec result .order.id number", "exec result .order.usd_per_hour number",
		"exec result .order.ssh.host string", "exec result .order.ssh.port number", "exec result .state string",
		"exec result .message string", "exec pending .confirm_command string", "exec reply .orders[].id number",
		"exec reply .message string",
		"exec heartbeat .deadline string", "exec heartbeat .elapsed_seconds number",
		"audit .at string", "audit .actor string",
		"spend .total_usd number", "spend .since string",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("schema lacks %q", want)
		}
	}
	golden.Equal(t, goldenPath, []byte(got))
}

// schemaLines lists "name .path type" for every leaf of v.
func schemaLines(name, path string, v any) []string {
	switch x := v.(type) {
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, schemaLines(name, path+"."+k, e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, schemaLines(name, path+"[]", e)...)
		}
		return out
	case string:
		return []string{name + " " + path + " string"}
	case float64:
		return []string{name + " " + path + " number"}
	case bool:
		return []string{name + " " + path + " bool"}
	}
	return []string{name + " " + path + " null"}
}

func dedupSorted(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}

func TestAuditNewestFirstAndTruncated(t *testing.T) {
	dir := t.TempDir()
	for _, text := range []string{"status", "market", "help rent"} { // `help` alone opens no database
		if code, _, _ := run(t, dir, fastSandbox, "exec", "--sandbox", text); code != 0 {
			t.Fatalf("exec %s: %d", text, code)
		}
	}
	code, out, stderr := run(t, dir, nil, "audit", "--sandbox", "--json", "--limit", "2")
	var rows []auditRow
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var r auditRow
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if code != 0 || len(rows) != 2 || rows[0].Command != "help rent" || rows[1].Command != "market" {
		t.Fatalf("audit --limit 2: %d %+v", code, rows)
	}
	if !strings.Contains(stderr, "truncated: showing the newest 2 rows") {
		t.Errorf("no truncated notice: %q", stderr)
	}
	if _, _, stderr := run(t, dir, nil, "audit", "--sandbox", "--limit", "3"); strings.Contains(stderr, "truncated") {
		t.Errorf("notice without truncation: %q", stderr)
	}
}

// interruptExecRent runs `exec --sandbox rent 3090` with environ in the
// current directory, Ctrl-Cs it once its order provisions, and returns its
// exit code, its output and the order id.
func interruptExecRent(t *testing.T, environ []string) (int, *watchBuffer, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newWatchBuffer()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	dir, err := os.Getwd() // the caller's t.Chdir
	if err != nil {
		t.Fatal(err)
	}
	environ = onTestDB(t, dir, environ, nil)
	go func() { done <- Main(ctx, []string{"exec", "--sandbox", "rent", "3090"}, environ, out, &stderr) }()
	select {
	case <-out.seen("Provisioning order #"):
	case code := <-done:
		t.Fatalf("exec ended early: %d\n%s\n%s", code, out, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no provisioning:\n%s", out)
	}
	cancel() // Ctrl-C
	code := <-done
	return code, out, regexp.MustCompile(`Provisioning order #(\d+)`).FindStringSubmatch(out.String())[1]
}

// Ctrl-C while an order provisions: exec says which order is still running
// and how to follow or cancel it, and exits 130. Ctrl-C before anything was
// ordered abandons the rent.
func TestExecInterruptedDuringRent(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	environ := []string{"CLOREBOT_SANDBOX_PROVISION_DELAY=1h", "CLOREBOT_CLORE_MIN_INTERVAL=10ms", "CLOREBOT_CLORE_CREATE_INTERVAL=20ms"}
	code, out, id := interruptExecRent(t, environ)
	for _, want := range []string{
		"interrupted: order #" + id, "still provisioning", "cancel: clorebot --sandbox exec cancel " + id, "follow: clorebot --sandbox exec status " + id,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
	// The order is real: the suggested command cancels it.
	if code, out, _ := run(t, dir, environ, "exec", "--sandbox", "cancel", id); code != 0 || !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel after interrupt: %d\n%s", code, out)
	}
}

// watchBuffer is a concurrency-safe writer whose seen channel closes once
// the output holds a string.
type watchBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	waits map[string]chan struct{}
}

func newWatchBuffer() *watchBuffer { return &watchBuffer{waits: map[string]chan struct{}{}} }

func (w *watchBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	w.check()
	return n, err
}

func (w *watchBuffer) check() {
	for s, ch := range w.waits {
		if strings.Contains(w.buf.String(), s) {
			close(ch)
			delete(w.waits, s)
		}
	}
}

func (w *watchBuffer) seen(s string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	w.waits[s] = ch
	w.check()
	return ch
}

func (w *watchBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

var _ fmt.Stringer = (*watchBuffer)(nil)
