// Package deploy holds the deployment files (systemd unit, the compose
// configuration) and tests of every packaging file of the repository: the
// image's build context, the Dockerfile, docker-compose.yml and the docs'
// docker run line. No Docker daemon is needed: the rules are checked in Go.
package deploy

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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

// Every *_FILE that the docs' docker run or the compose file points at
// is mounted into the container.
func TestSecretFilesAreMounted(t *testing.T) {
	root := repoRoot(t)
	readme := read(t, filepath.Join(root, "docs", "operations.md"))
	run := regexp.MustCompile("(?s)docker run .*?```").FindString(readme)
	if run == "" {
		t.Fatal("docs/operations.md has no docker run line")
	}
	checkMounted(t, "docs/operations.md docker run", run, regexp.MustCompile(`-v\s+"?[^"\s]+:(/[^:"\s]+)`))
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
		"RestartPreventExitStatus=2", "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("clorebot.service lacks %q", want)
		}
	}
	// `config check` in an ExecStartPre printed the whole configuration
	// into the journal at every start; serve validates it itself.
	if regexp.MustCompile(`(?m)^ExecStartPre=`).MatchString(unit) {
		t.Error("clorebot.service has an ExecStartPre")
	}
}

// Every hardening setting says, in the comment above it, what it protects.
func TestSystemdUnitSettingsAreExplained(t *testing.T) {
	lines := strings.Split(read(t, "clorebot.service"), "\n")
	inService, hardening := false, 0
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "["):
			inService = l == "[Service]"
			continue
		case !inService || l == "" || strings.HasPrefix(l, "#"):
			continue
		}
		key, _, _ := strings.Cut(l, "=")
		if !strings.HasPrefix(key, "Protect") && !strings.HasPrefix(key, "Private") && !strings.HasPrefix(key, "Restrict") &&
			!slices.Contains([]string{"CapabilityBoundingSet", "AmbientCapabilities", "NoNewPrivileges", "RemoveIPC",
				"LockPersonality", "MemoryDenyWriteExecute", "SystemCallArchitectures", "SystemCallFilter",
				"SystemCallErrorNumber", "UMask", "ProcSubset", "StateDirectory", "StateDirectoryMode"}, key) {
			continue
		}
		hardening++
		// The comment may cover a group of settings: look up past them.
		j := i - 1
		for j >= 0 && lines[j] != "" && !strings.HasPrefix(lines[j], "#") {
			j--
		}
		if j < 0 || !strings.HasPrefix(lines[j], "# ") || strings.HasPrefix(lines[j], "# ---") {
			t.Errorf("line %d %q: no comment above says what it protects", i+1, l)
		}
	}
	if hardening < 25 {
		t.Errorf("only %d hardening settings", hardening)
	}
}

// systemd's own assessment of the unit: at most 2.0 ("OK"). Skipped where
// systemd-analyze is not installed (apt-get install systemd).
func TestSystemdUnitExposure(t *testing.T) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	out, err := exec.Command(bin, "security", "--offline=true", "--no-pager", "clorebot.service").CombinedOutput()
	if err != nil {
		t.Skipf("systemd-analyze security --offline cannot run here: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for clorebot\.service: (\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0:\n%s", level, out)
	}
}

// The compose service runs hardened: nothing of the image writable but the
// data volume and a tmpfs, no capabilities, no privilege gain; the file
// says which Compose it needs.
func TestComposeIsHardened(t *testing.T) {
	compose := read(t, filepath.Join(repoRoot(t), "docker-compose.yml"))
	for _, want := range []string{
		"read_only: true", "cap_drop: [ALL]", "- no-new-privileges:true", "tmpfs:\n      - /tmp:",
		"Needs Docker Compose 2.24 or later",
	} {
		if !strings.Contains(compose, want) {
			t.Errorf("docker-compose.yml lacks %q", want)
		}
	}
}

// Every build path stamps the version and commit: compose passes the
// repository as the "git" context (or the build arguments), the Dockerfile
// reads what the arguments leave empty from it and links them in.
func TestBuildsAreStamped(t *testing.T) {
	root := repoRoot(t)
	compose := read(t, filepath.Join(root, "docker-compose.yml"))
	df := read(t, filepath.Join(root, "Dockerfile"))
	for _, want := range []string{"additional_contexts:\n        git: ${CLOREBOT_GIT_DIR:-.git}",
		"VERSION: ${CLOREBOT_VERSION:-}", "COMMIT: ${CLOREBOT_COMMIT:-}", "DATE: ${CLOREBOT_BUILD_DATE:-}"} {
		if !strings.Contains(compose, want) {
			t.Errorf("docker-compose.yml lacks %q", want)
		}
	}
	if strings.Contains(compose, "CLOREBOT_COMMIT:-unknown") || strings.Contains(compose, "VERSION: ${CLOREBOT_VERSION:-dev}") {
		t.Error("docker-compose.yml stamps a fixed version or commit")
	}
	for _, want := range []string{"FROM scratch AS git", "--mount=type=bind,from=git,target=/git",
		`eval "$(sh cmd/clorebot/buildinfo.sh /git)"`, "/out/clorebot version"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// Base images are named once, as build arguments, so that a build pins them
// by digest without editing the file; a default that is pinned is a real
// digest reference.
func TestBaseImagesAreArguments(t *testing.T) {
	df := read(t, filepath.Join(repoRoot(t), "Dockerfile"))
	args := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ARG (\w+_IMAGE)=(\S+)$`).FindAllStringSubmatch(df, -1) {
		args[m[1]] = m[2]
	}
	for _, m := range regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1) {
		from := m[1]
		if from == "scratch" {
			continue
		}
		name, ok := strings.CutPrefix(from, "${")
		name = strings.TrimSuffix(name, "}")
		if !ok || args[name] == "" {
			t.Errorf("FROM %s: not a build argument with a default", from)
			continue
		}
		if ref := args[name]; strings.Contains(ref, "@") && !regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(ref) {
			t.Errorf("ARG %s=%s: not a digest reference", name, ref)
		}
	}
	if len(args) != 2 {
		t.Errorf("image arguments %v, want GO_IMAGE and RUNTIME_IMAGE", args)
	}
	compose := read(t, filepath.Join(repoRoot(t), "docker-compose.yml"))
	for name, def := range args {
		if !strings.Contains(compose, name+": ${CLOREBOT_"+name+":-"+def+"}") {
			t.Errorf("docker-compose.yml does not pass %s (default %s)", name, def)
		}
	}
}
