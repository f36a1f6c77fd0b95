package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// buildinfo.sh stamps what the Dockerfile's build arguments leave empty
// from the repository the build is given (docker-compose.yml passes .git):
// every build path reports its version and commit.
func TestBuildinfoScript(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	repo := t.TempDir()
	gitCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.email=ci@example.com", "-c", "user.name=ci"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	gitCmd("init", "-q")
	gitCmd("commit", "-q", "--allow-empty", "-m", "first")
	gitCmd("tag", "v1.2.3-it's$odd")
	head := gitCmd("rev-parse", "HEAD")
	script, err := filepath.Abs("buildinfo.sh")
	if err != nil {
		t.Fatal(err)
	}
	// What the Dockerfile's RUN does: eval, then use the variables.
	stamp := func(gitdir string, env ...string) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", `eval "$(sh "$0" "$1")" && printf '%s|%s|%s' "$VERSION" "$COMMIT" "$DATE"`, script, gitdir)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("buildinfo.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	date := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`
	tests := []struct {
		name, gitdir string
		env          []string
		want         string
	}{
		{"from the repository", filepath.Join(repo, ".git"), []string{"VERSION=", "COMMIT=", "DATE="},
			regexp.QuoteMeta("v1.2.3-it's$odd|"+head+"|") + date},
		{"build arguments win", filepath.Join(repo, ".git"), []string{"VERSION=2.0.0", "COMMIT=abc", "DATE=2026-01-02T03:04:05Z"},
			regexp.QuoteMeta("2.0.0|abc|2026-01-02T03:04:05Z")},
		{"no repository (docker build without the git context)", t.TempDir(), []string{"VERSION=", "COMMIT=", "DATE="},
			"\\|\\|" + date},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stamp(tt.gitdir, tt.env...); !regexp.MustCompile("^" + tt.want + "$").MatchString(got) {
				t.Errorf("stamped %q, want %s", got, tt.want)
			}
		})
	}
}
