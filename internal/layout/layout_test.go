// Package layout holds tests of the repository's shape: the dependency
// direction of DESIGN.md §1, for the packages and for their tests, and the
// README's contract with CI.
package layout

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/clorebot/clorebot"

// rule forbids packages under `from` to depend on packages under any of
// `not`: directly only when direct is set, else also through other packages.
// The rule holds for the packages' tests too (their _test.go files, in the
// package and as package_test), except for what testsMay lists: the real
// store and the simulated Clore that tests run a layer against.
type rule struct {
	from     string
	not      []string
	why      string
	direct   bool
	testsMay []string
}

// realDoubles are what tests above storage may run against: SQLite in a
// temporary directory and the sandbox Clore, through the real clients.
var realDoubles = []string{"storage", "clore"}

var rules = []rule{
	{"clore", []string{"bot", "commands", "scheduler", "storage", "internal", "cmd"}, "clore imports nothing of the project", false, nil},
	{"storage", []string{"bot", "scheduler", "cmd"}, "storage imports no front door", false, nil},
	{"commands", []string{"bot", "storage", "scheduler", "cmd", "clore/sandbox"}, "commands declares the interfaces it consumes", false, realDoubles},
	{"bot", []string{"storage", "clore", "scheduler", "cmd"}, "front doors import commands and their SDK, never storage or clore", true, realDoubles},
	{"bot", []string{"storage", "scheduler", "cmd"}, "front doors reach storage only through commands' interfaces", false, realDoubles},
	{"bot/discordbot", []string{"bot/webhook", "bot/slackbot"}, "a front door imports no other front door", false, nil},
	{"scheduler", []string{"bot", "cmd"}, "scheduler posts to chat only through a notifier interface", false, nil},
	{"internal", []string{"bot", "commands", "scheduler", "storage", "cmd"}, "internal helpers stay below the layers", false, nil},
	{"bot/chat", []string{"bot", "storage", "scheduler", "cmd"}, "bot/chat is platform-neutral: it depends on no front door", false, nil},
	{"bot/chat", []string{"clore", "internal"}, "bot/chat imports commands only", true, nil},
	{"bot/chat/chattest", []string{"bot/slackbot", "bot/discordbot", "bot/webhook"}, "the conformance suite and its door know no platform's door", false, nil},
	{"internal/httpserver", []string{"bot", "commands", "clore", "scheduler", "storage", "cmd", "internal"}, "the process server imports nothing of the project: doors hand it handlers", false, nil},
	{"bot/slackbot", []string{"bot/discordbot", "bot/webhook"}, "a front door imports no other front door (shared chat code is in bot/chat)", false, nil},
	{"bot/discordbot", []string{"bot/slackbot", "bot/webhook"}, "a front door imports no other front door (shared chat code is in bot/chat)", false, nil},
	{"bot/webhook", []string{"bot/slackbot", "bot/discordbot", "bot/chat"}, "a front door imports no other front door", false, nil},
}

// fakes are the test-support packages next to the doors they fake (named like
// net/http/httptest). Tests anywhere may import them; no non-test code may, and
// they import nothing of the project (their SDK and the standard library only),
// so that a fake never grows into a second copy of its door.
var fakes = []string{"bot/slackbot/slacktest", "bot/discordbot/discordtest"}

// testSupport are the other packages only tests import: the front doors'
// conformance suite and the test tree's own door. Unlike a fake they import
// the contract they check (bot/chat, commands).
var testSupport = []string{"bot/chat/chattest", "bot/chat/chattest/testdoor"}

func TestOnlyTestsImportTheTestSupport(t *testing.T) {
	pkgs := packages(t)
	for _, f := range testSupport {
		if _, ok := pkgs[module+"/"+f]; !ok {
			t.Fatalf("%s is not a package of the module", f)
		}
	}
	for _, p := range pkgs {
		pkg := rel(p.ImportPath)
		if !strings.HasPrefix(p.ImportPath, module) || slices.ContainsFunc(testSupport, func(s string) bool { return under(pkg, s) }) {
			continue
		}
		for _, d := range p.Deps {
			if d := rel(d); slices.Contains(testSupport, d) {
				t.Errorf("%s depends on %s outside its tests: only tests import the conformance suite and its door", pkg, d)
			}
		}
	}
}

func TestOnlyTestsImportTheFakes(t *testing.T) {
	pkgs := packages(t)
	for _, f := range fakes {
		p, ok := pkgs[module+"/"+f]
		if !ok {
			t.Fatalf("%s is not a package of the module", f)
		}
		for _, d := range p.Deps {
			if strings.HasPrefix(d, module+"/") {
				t.Errorf("%s depends on %s: a fake imports its SDK and the standard library only", f, rel(d))
			}
		}
	}
	for _, p := range pkgs {
		if !strings.HasPrefix(p.ImportPath, module) {
			continue
		}
		for _, d := range p.Deps {
			if d := rel(d); slices.Contains(fakes, d) {
				t.Errorf("%s depends on %s outside its tests: only tests import a fake", rel(p.ImportPath), d)
			}
		}
	}
}

// listed is one package of `go list -json`: what it and its tests import.
type listed struct {
	ImportPath   string
	Deps         []string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// packages lists the module's packages by import path.
func packages(t *testing.T) map[string]listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Deps,Imports,TestImports,XTestImports", "./...")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]listed{}
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// testDeps are what a package's tests import (direct) or depend on.
func testDeps(p listed, pkgs map[string]listed, direct bool) []string {
	imports := append(slices.Clone(p.TestImports), p.XTestImports...)
	if direct {
		return imports
	}
	var deps []string
	for _, imp := range imports {
		deps = append(deps, imp)
		deps = append(deps, pkgs[imp].Deps...)
	}
	return deps
}

func TestDependencyDirection(t *testing.T) {
	pkgs := packages(t)
	checked, checkedTests := 0, 0
	for _, p := range pkgs {
		if !strings.HasPrefix(p.ImportPath, module) {
			continue
		}
		pkg := rel(p.ImportPath)
		for _, r := range rules {
			if !under(pkg, r.from) {
				continue
			}
			checked++
			list := p.Deps
			if r.direct {
				list = p.Imports
			}
			for _, d := range violations(r, list, nil) {
				t.Errorf("%s depends on %s: %s (DESIGN.md §1)", pkg, d, r.why)
			}
			tests := testDeps(p, pkgs, r.direct)
			if len(tests) > 0 {
				checkedTests++
			}
			for _, d := range violations(r, tests, r.testsMay) {
				t.Errorf("the tests of %s depend on %s: %s (DESIGN.md §1); a test that needs both belongs with the higher one",
					pkg, d, r.why)
			}
		}
	}
	if checked == 0 || checkedTests == 0 {
		t.Fatalf("%d packages and %d test sets checked", checked, checkedTests)
	}
}

// violations are the packages of deps that r forbids, less those under may.
func violations(r rule, deps, may []string) []string {
	var bad []string
	for _, dep := range deps {
		if !strings.HasPrefix(dep, module+"/") {
			continue
		}
		d := rel(dep)
		if under(d, r.from) || slices.ContainsFunc(may, func(m string) bool { return under(d, m) }) {
			continue
		}
		for _, not := range r.not {
			if under(d, not) && !slices.Contains(bad, d) {
				bad = append(bad, d)
			}
		}
	}
	return bad
}

// The rules see what the tests import: a test file that imported a front
// door into the command layer's tests would be found.
func TestViolationsSeeTestImports(t *testing.T) {
	commandsRule := rules[2]
	p := listed{ImportPath: module + "/commands", XTestImports: []string{module + "/commands", module + "/storage", module + "/bot/webhook"}}
	got := violations(commandsRule, testDeps(p, nil, true), commandsRule.testsMay)
	if !slices.Equal(got, []string{"bot/webhook"}) {
		t.Errorf("violations = %v, want [bot/webhook]", got)
	}
}

// The README's test command is the one CI runs first.
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
	// The first go test line is the README's command; the lines after it
	// run parts of the suite again on PostgreSQL.
	for line := range strings.SplitSeq(string(ci), "\n") {
		if strings.Contains(line, "go test") && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			testCmd = strings.TrimSpace(line)
			break
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
