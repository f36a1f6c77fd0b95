// Package docstest runs the documentation: every shell command of README.md
// and docs/*.md against a clorebot built from this checkout, and checks that
// the pages' links stay inside the repository.
package docstest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDocsCommandsRun runs every command of the fenced shell blocks (sh,
// bash, shell) of README.md and docs/*.md, in that order, as a reader would
// paste them on a fresh machine, against the sandbox:
//
//   - `clorebot` is built once from this checkout (`go build ./cmd/clorebot`)
//     and put first on PATH; `go run ./cmd/clorebot` runs that same binary;
//   - the working directory holds a clorebot.toml in sandbox mode (fast Clore
//     spacing, a webhook key named zapier) whose listener is on a free
//     loopback port, which replaces every `localhost:8080` of the docs;
//   - a block that is `clorebot serve …` starts serve in the background and
//     waits for /readyz; it is stopped with SIGTERM at the end and must exit 0;
//   - every other block runs as one `bash -euo pipefail` script and must exit
//     0, and every `curl` line it prints (what `clorebot webhook sign`
//     prints) is run too and must get a 2xx answer.
//
// A block whose info string says `norun: <reason>` is not run (the test
// command itself, docker, systemctl, steps that need a real Slack, Discord
// or Clore account): the test lists them, and fails on any other info string
// (a `norun` without its reason included).
func TestDocsCommandsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds clorebot and runs every command of the docs (about a minute); CI runs it without -short")
	}
	for _, tool := range []string{"go", "bash", "curl", "jq", "sqlite3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	files := []string{root + "/README.md"}
	docs, err := filepath.Glob(root + "/docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, docs...)

	d := newDocsRun(t)
	ran := 0
	for _, file := range files {
		blocks := shellBlocks(t, file)
		for _, b := range blocks {
			where := fmt.Sprintf("%s:%d", strings.TrimPrefix(file, root+"/"), b.line)
			if info, bad := strings.CutPrefix(b.norun, badInfo); bad {
				t.Errorf("%s: info string %q: want nothing or \"norun: <why it cannot run here>\"", where, info)
				continue
			}
			if b.norun != "" {
				t.Logf("not run, %s: %s", where, b.norun)
				continue
			}
			start := time.Now()
			d.runBlock(where, b.text)
			t.Logf("ran %s in %v", where, time.Since(start).Round(time.Millisecond))
			ran++
		}
	}
	if ran < 10 {
		t.Errorf("only %d blocks ran: are the docs' shell blocks marked sh?", ran)
	}
	if d.curls == 0 {
		t.Error("no curl line printed by `clorebot webhook sign` was run")
	}
	d.stopServe()
}

// docBlock is one fenced shell block of a document.
type docBlock struct {
	line  int    // of the opening fence, 1-based
	norun string // why it is not run; empty: run it
	text  string
}

// root is the repository's root, seen from this package.
const root = "../.."

var fenceInfo = regexp.MustCompile("^```(\\w*)\\s*(.*)$")

// shellBlocks returns the fenced sh, bash and shell blocks of a Markdown file.
func shellBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docBlock
	var cur *docBlock
	var body []string
	indent := "" // of the open fence: a block inside a list item is indented
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if !strings.HasPrefix(strings.TrimLeft(line, " "), "```") {
			if cur != nil {
				body = append(body, strings.TrimPrefix(line, indent))
			}
			continue
		}
		indent = line[:len(line)-len(strings.TrimLeft(line, " "))]
		line = strings.TrimLeft(line, " ")
		if cur != nil { // the closing fence
			cur.text = strings.Join(body, "\n")
			if isShell(cur) {
				out = append(out, *cur)
			}
			cur, body = nil, nil
			continue
		}
		m := fenceInfo.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("%s:%d: unreadable fence %q", path, n, line)
		}
		cur = &docBlock{line: n, norun: m[1] + " " + m[2]}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: a fence is never closed", path, cur.line)
	}
	return out
}

// isShell keeps the shell blocks and sets their norun reason from the info
// string (held in norun while reading): "sh", or "sh norun: <reason>". Any
// other info string after the language is kept as badInfo, for the test to
// refuse.
func isShell(b *docBlock) bool {
	lang, rest, _ := strings.Cut(b.norun, " ")
	b.norun = ""
	switch lang {
	case "sh", "bash", "shell":
	default:
		return false
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return true
	}
	reason, ok := strings.CutPrefix(rest, "norun:")
	if !ok || strings.TrimSpace(reason) == "" {
		b.norun = badInfo + rest
		return true
	}
	b.norun = strings.TrimSpace(reason)
	return true
}

// badInfo starts the norun of a block whose info string is neither empty nor
// "norun: <reason>".
const badInfo = "\x00"

// docsRun is the reader's machine: a directory, a PATH and a serve.
type docsRun struct {
	t       *testing.T
	dir     string
	addr    string // host:port of the listener
	environ []string
	serve   *exec.Cmd
	served  chan error
	curls   int // printed curl lines run
}

func newDocsRun(t *testing.T) *docsRun {
	t.Helper()
	d := &docsRun{t: t, dir: t.TempDir(), addr: freeAddr(t)}
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, "clorebot"), "./cmd/clorebot")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/clorebot: %v\n%s", err, out)
	}
	conf := fmt.Sprintf(`# written by TestDocsCommandsRun
[clore]
sandbox = true
min_interval = "20ms"
create_interval = "50ms"

[http]
listen = %q

[watch]
interval = "1s"

[sandbox]
provision_delay = "1s"
servers = 300

[[webhook.keys]]
name = "zapier"
secret = "docs-test-secret-not-a-real-one"
roles = ["renter"]
`, d.addr)
	if err := os.WriteFile(filepath.Join(d.dir, "clorebot.toml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d.environ = []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + d.dir,
		"USER=" + userName(), "TMPDIR=" + os.TempDir(), "LANG=C.UTF-8"}
	t.Cleanup(d.stopServe)
	return d
}

// userName is the OS user the CLI identity cli:<user> is made of.
func userName() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "reader"
}

// freeAddr finds a free loopback port for the listener.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var serveLine = regexp.MustCompile(`^(go run \./cmd/clorebot|clorebot) serve\b`)

// script is a block as this machine runs it.
func (d *docsRun) script(text string) string {
	text = strings.ReplaceAll(text, "go run ./cmd/clorebot", "clorebot")
	return strings.ReplaceAll(text, "localhost:8080", d.addr)
}

func (d *docsRun) runBlock(where, text string) {
	t := d.t
	t.Helper()
	if serveLine.MatchString(strings.TrimSpace(text)) && !strings.Contains(strings.TrimSpace(text), "\n") {
		d.startServe(where, d.script(strings.TrimSpace(text)))
		return
	}
	out, err := d.bash(d.script(text))
	if os.Getenv("CLOREBOT_DOCS_VERBOSE") != "" {
		t.Logf("%s output:\n%s", where, out)
	}
	if err != nil {
		t.Errorf("%s: %v\n--- block\n%s\n--- output\n%s", where, err, text, out)
		return
	}
	for line := range strings.SplitSeq(out, "\n") {
		if !strings.HasPrefix(line, "curl ") {
			continue
		}
		d.curls++
		if res, err := d.bash(line + " --fail-with-body"); err != nil {
			t.Errorf("%s: the printed curl line failed: %v\n%s\n%s", where, err, line, res)
		}
	}
}

// bash runs a script in the reader's directory, for at most a minute.
func (d *docsRun) bash(script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = d.dir
	cmd.Env = d.environ
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (d *docsRun) startServe(where, line string) {
	t := d.t
	t.Helper()
	if d.serve != nil {
		t.Errorf("%s: serve is already running (started by an earlier block)", where)
		return
	}
	cmd := exec.Command("bash", "-c", "exec "+line)
	cmd.Dir = d.dir
	cmd.Env = d.environ
	log, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.serve, d.served = cmd, make(chan error, 1)
	go func() { d.served <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + d.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-d.served:
			d.served <- err
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("%s: serve exited before it was ready: %v\n%s", where, err, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("%s: serve not ready after 30 s\n%s", where, b)
		}
	}
}

// stopServe stops serve as systemd and docker do (SIGTERM): it must exit 0.
func (d *docsRun) stopServe() {
	if d.serve == nil {
		return
	}
	cmd := d.serve
	d.serve = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.served:
		if err != nil {
			d.t.Errorf("serve after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		d.t.Error("serve did not stop within 30 s of SIGTERM")
	}
}

// TestDocsLinksResolve checks that README.md links every page of docs/, that
// every relative link of README.md and docs/*.md names a file of the
// repository, and that no page sends readers outside it (../shared is not
// part of the repository).
func TestDocsLinksResolve(t *testing.T) {
	files, err := filepath.Glob(root + "/docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	code := regexp.MustCompile("`[^`\n]*`")
	readme, err := os.ReadFile(root + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if page := "(docs/" + filepath.Base(file) + ")"; !strings.Contains(string(readme), page) {
			t.Errorf("README.md's index does not link docs/%s", filepath.Base(file))
		}
	}
	for _, file := range append([]string{root + "/README.md"}, files...) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "shared/") {
			t.Errorf("%s points to shared/, which is not in the repository", file)
		}
		for _, m := range link.FindAllStringSubmatch(code.ReplaceAllString(string(b), ""), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(file), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", file, m[1])
			}
		}
	}
}

// TestShellBlocks pins how a page's blocks are read: which are shell, which
// are not run and why, indented fences inside list items.
func TestShellBlocks(t *testing.T) {
	page := "# Page\n\n```sh\nclorebot version\n```\n\n```toml\n[clore]\n```\n\n" +
		"1. Step\n\n   ```sh norun: needs a real Slack app\n   clorebot serve\n   ```\n\n" +
		"```bash maybe\necho\n```\n\n```\nplain\n```\n"
	path := filepath.Join(t.TempDir(), "page.md")
	if err := os.WriteFile(path, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	got := shellBlocks(t, path)
	want := []docBlock{
		{line: 3, text: "clorebot version"},
		{line: 13, norun: "needs a real Slack app", text: "clorebot serve"},
		{line: 17, norun: badInfo + "maybe", text: "echo"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d blocks %+v, want %+v", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("block %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
