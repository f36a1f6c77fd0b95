// Package layout holds tests of the repository's shape: the dependency
// direction of DESIGN.md §1 and the README's contract with CI.
package layout

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/clorebot/clorebot"

// rule forbids packages under `from` to depend on packages under any of
// `not`: directly only when direct is set, else also through other packages.
type rule struct {
	from   string
	not    []string
	why    string
	direct bool
}

var rules = []rule{
	{"clore", []string{"bot", "commands", "scheduler", "storage", "internal", "cmd"}, "clore imports nothing of the project", false},
	{"storage", []string{"bot", "scheduler", "cmd"}, "storage imports no front door", false},
	{"commands", []string{"bot", "storage", "scheduler", "cmd", "clore/sandbox"}, "commands declares the interfaces it consumes", false},
	{"bot", []string{"storage", "clore", "scheduler", "cmd"}, "front doors import commands and their SDK, never storage or clore", true},
	{"bot", []string{"storage", "scheduler", "cmd"}, "front doors reach storage only through commands' interfaces", false},
	{"bot/discordbot", []string{"bot/webhook", "bot/slackbot"}, "a front door imports no other front door", false},
	{"scheduler", []string{"bot", "cmd"}, "scheduler posts to chat only through a notifier interface", false},
	{"internal", []string{"bot", "commands", "scheduler", "storage", "cmd"}, "internal helpers stay below the layers", false},
	{"bot/chat", []string{"bot", "storage", "scheduler", "cmd"}, "bot/chat is platform-neutral: it depends on no front door", false},
	{"bot/chat", []string{"clore", "internal"}, "bot/chat imports commands only", true},
	{"bot/slackbot", []string{"bot/discordbot", "bot/webhook"}, "a front door imports no other front door (shared chat code is in bot/chat)", false},
	{"bot/discordbot", []string{"bot/slackbot", "bot/webhook"}, "a front door imports no other front door (shared chat code is in bot/chat)", false},
	{"bot/webhook", []string{"bot/slackbot", "bot/discordbot", "bot/chat"}, "a front door imports no other front door", false},
}

func TestDependencyDirection(t *testing.T) {
	root := repoRoot(t)
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if eq .Module.Path "`+module+`"}}{{.ImportPath}} {{join .Deps " "}} | {{join .Imports " "}}{{end}}{{end}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		deps, imports, _ := strings.Cut(sc.Text(), " | ")
		fields := strings.Fields(deps)
		if len(fields) == 0 {
			continue
		}
		pkg := rel(fields[0])
		for _, r := range rules {
			if !under(pkg, r.from) {
				continue
			}
			checked++
			list := fields[1:]
			if r.direct {
				list = strings.Fields(imports)
			}
			for _, dep := range list {
				if !strings.HasPrefix(dep, module+"/") {
					continue
				}
				d := rel(dep)
				for _, bad := range r.not {
					if under(d, bad) && !under(d, r.from) {
						t.Errorf("%s depends on %s: %s (DESIGN.md §1)", pkg, d, r.why)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package checked")
	}
}

// The README's test command is the one CI runs.
func TestReadmeTestCommandIsCI(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	var testCmd string
	for line := range strings.SplitSeq(string(ci), "\n") {
		if strings.Contains(line, "go test") {
			testCmd = strings.TrimSpace(line)
		}
	}
	if testCmd == "" || !strings.Contains(string(readme), testCmd) {
		t.Errorf("README.md does not show the command .ci/run runs: %q", testCmd)
	}
	if !strings.Contains(string(readme), "go run ./cmd/clorebot serve --sandbox") {
		t.Error("README.md does not show `go run ./cmd/clorebot serve --sandbox`")
	}
}

func rel(importPath string) string { return strings.TrimPrefix(importPath, module+"/") }

func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s", dir)
	}
	return dir
}
