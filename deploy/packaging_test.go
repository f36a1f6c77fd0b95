// Package deploy holds the deployment files (systemd unit, the compose
// configuration) and tests of every packaging file of the repository: the
// image's build context, the Dockerfile, docker-compose.yml and the README's
// docker run line. No Docker daemon is needed: the rules are checked in Go.
package deploy

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/internal/config"
)

// ignoreRule is one line of a .dockerignore file.
type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

// parseDockerignore reads rules with Docker's semantics
// (github.com/moby/patternmatcher): paths relative to the context root,
// leading "/" ignored, "*" and "?" within one path element, "**" across
// elements, "!" re-includes; the last matching rule wins, and a rule that
// matches a directory matches everything under it.
func parseDockerignore(t *testing.T, path string) []ignoreRule {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rules []ignoreRule
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			r.negate, line = true, strings.TrimSpace(rest)
		}
		line = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(line)), "/")
		r.re = regexp.MustCompile("^" + patternRegexp(line) + "(/.*)?$")
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rules
}

func patternRegexp(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// excluded reports whether rel (slash-separated) stays out of the context.
func excluded(rules []ignoreRule, rel string) bool {
	out := false
	for _, r := range rules {
		if r.re.MatchString(rel) {
			out = !r.negate
		}
	}
	return out
}

// buildContext lists the files of root that docker build would send.
func buildContext(t *testing.T, root string, rules []ignoreRule) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if rel == "." || d.IsDir() {
			return nil
		}
		if !excluded(rules, rel) {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The image's context never holds a local configuration, a database, git
// history or secrets, whatever lies around in the checkout.
func TestBuildContextExcludesSecretsAndState(t *testing.T) {
	rules := parseDockerignore(t, filepath.Join(repoRoot(t), ".dockerignore"))
	tree := t.TempDir()
	files := map[string]bool{ // path → sent to the build
		"go.mod": true, "go.sum": true, "config.example.toml": true, "Dockerfile": true, "README.md": true,
		"cmd/clorebot/main.go": true, "internal/config/secret.go": true, "storage/migrations/0001_init.sql": true,
		"commands/testdata/market-4090.txt": true,

		"clorebot.toml": false, "team.toml": false, "prod/clorebot.toml": false, "cmd/clorebot/local.toml": false,
		"clorebot.db": false, "clorebot.db-wal": false, "clorebot.db-shm": false, "clorebot-sandbox.db": false,
		"data/clorebot.db": false, "data/clorebot.db-journal": false,
		".git/config": false, ".git/objects/ab/cdef": false, "vendor/x/.git/HEAD": false,
		".env": false, "clorebot.env": false, ".env.production": false, "secrets/clore_api_key": false,
		"deploy/secrets/x": false, "tls/server.key": false, "tls/server.pem": false,
		"clorebot": false, "cmd/clorebot/clorebot.test": false,
	}
	for f := range files {
		p := filepath.Join(tree, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sent := buildContext(t, tree, rules)
	for f, want := range files {
		if got := slices.Contains(sent, f); got != want {
			t.Errorf("%s in the build context: %v, want %v", f, got, want)
		}
	}
}

// Everything `go build ./cmd/clorebot` needs from this checkout is sent: Go
// sources, go.mod/go.sum and embedded migrations.
func TestBuildContextKeepsTheSources(t *testing.T) {
	root := repoRoot(t)
	rules := parseDockerignore(t, filepath.Join(root, ".dockerignore"))
	needed := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".git" || rel == "deploy" {
				return filepath.SkipDir
			}
			return nil
		}
		isSource := strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") ||
			rel == "go.mod" || rel == "go.sum" || strings.HasSuffix(rel, ".sql")
		if isSource {
			needed++
			if excluded(rules, rel) {
				t.Errorf("%s is needed by the build but .dockerignore excludes it", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if needed < 20 {
		t.Fatalf("only %d source files found under %s", needed, root)
	}
}

func TestDockerfile(t *testing.T) {
	df := read(t, filepath.Join(repoRoot(t), "Dockerfile"))
	for _, want := range []string{
		"CGO_ENABLED=0",
		"-X main.version=${VERSION}", "-X main.commit=${COMMIT}", "-X main.date=${DATE}",
		"org.opencontainers.image.source=", "org.opencontainers.image.version=", "org.opencontainers.image.revision=",
		"org.opencontainers.image.created=", "org.opencontainers.image.title=",
		"USER 65532:65532",
		`CMD ["/usr/local/bin/clorebot", "healthcheck"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// The HEALTHCHECK follows http.listen: no fixed port or URL.
	hc := df[strings.Index(df, "HEALTHCHECK"):]
	hc = hc[:strings.Index(hc, "\nENTRYPOINT")]
	if strings.Contains(hc, "--url") || strings.Contains(hc, ":8080") {
		t.Errorf("HEALTHCHECK names a fixed address:\n%s", hc)
	}
}

// Every *_FILE that the README's docker run or the compose file points at
// is mounted into the container.
func TestSecretFilesAreMounted(t *testing.T) {
	root := repoRoot(t)
	readme := read(t, filepath.Join(root, "README.md"))
	run := regexp.MustCompile("(?s)docker run .*?```").FindString(readme)
	if run == "" {
		t.Fatal("README has no docker run line")
	}
	checkMounted(t, "README docker run", run, regexp.MustCompile(`-v\s+"?[^"\s]+:(/[^:"\s]+)`))
	compose := read(t, filepath.Join(root, "docker-compose.yml"))
	checkMounted(t, "docker-compose.yml", compose, regexp.MustCompile(`-\s+\S+:(/[^:\s]+)`))
	for _, want := range []string{"clorebot-data:/data", "CLOREBOT_CONFIG: /etc/clorebot/clorebot.toml",
		"./clorebot.toml:/etc/clorebot/clorebot.toml:ro", "env_file:"} {
		if !strings.Contains(compose, want) {
			t.Errorf("docker-compose.yml lacks %q", want)
		}
	}
	if n := strings.Count(compose, "\n  clorebot:\n"); n != 1 {
		t.Errorf("docker-compose.yml has %d clorebot services, want one", n)
	}
}

func checkMounted(t *testing.T, where, text string, mount *regexp.Regexp) {
	t.Helper()
	var mounts []string
	for _, m := range mount.FindAllStringSubmatch(text, -1) {
		mounts = append(mounts, m[1])
	}
	files := regexp.MustCompile(`_FILE[=:]\s*(/\S+)`).FindAllStringSubmatch(text, -1)
	if len(files) == 0 {
		t.Fatalf("%s passes no secret as _FILE", where)
	}
	for _, f := range files {
		if !slices.ContainsFunc(mounts, func(m string) bool { return f[1] == m || strings.HasPrefix(f[1], m+"/") }) {
			t.Errorf("%s: %s is not mounted (mounts: %v)", where, f[1], mounts)
		}
	}
}

// The compose configuration is valid as clorebot reads it, with its secret
// files in place.
func TestComposeConfigIsValid(t *testing.T) {
	dir := t.TempDir()
	text := read(t, "clorebot.compose.toml")
	for _, f := range regexp.MustCompile(`/run/secrets/(\w+)`).FindAllStringSubmatch(text, -1) {
		if err := os.WriteFile(filepath.Join(dir, f[1]), []byte("a-long-enough-text-secret-0123456789"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "clorebot.toml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "/run/secrets", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(config.LoadOptions{Path: path, PathExplicit: true,
		Override: func(c *config.Config) { c.Clore.Sandbox = true }}); err != nil {
		t.Fatalf("deploy/clorebot.compose.toml: %v", err)
	}
}

func TestSystemdUnit(t *testing.T) {
	unit := read(t, "clorebot.service")
	for _, want := range []string{
		"ExecStart=/usr/local/bin/clorebot --config /etc/clorebot/clorebot.toml serve",
		"KillSignal=SIGTERM", "User=clorebot", "StateDirectory=clorebot", "StateDirectoryMode=0700",
		"EnvironmentFile=-/etc/clorebot/clorebot.env", "UMask=0077", "NoNewPrivileges=true",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("clorebot.service lacks %q", want)
		}
	}
}
