package main

import (
	"encoding/json"
	"fmt"
	"github.com/clorebot/clorebot/storage/storagetest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// shellWords splits a printed command line the way a shell would for the
// quoting shellQuote produces (single quotes).
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inQuote, started := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			inQuote, started = !inQuote, true
		case r == ' ' && !inQuote:
			if started {
				words = append(words, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if started {
		words = append(words, cur.String())
	}
	if len(words) == 0 || words[0] != "clorebot" {
		t.Fatalf("not a clorebot command: %q", line)
	}
	return words[1:]
}

// The commands exec prints (Rent now, the JSON confirm_command, cancel,
// status) carry the --config, --sandbox and --as that made the first one
// work: pasted in another directory, they act on the same database.
func TestExecFollowUpsWorkWhenPasted(t *testing.T) {
	home := t.TempDir()
	conf := filepath.Join(home, "team.toml")
	// --as is for an admin's command line: the OS user running the test is one.
	policy := fmt.Sprintf("[policy]\nconfirm_above = 0.001\nadmins = [\"cli:ops\", %q]\n", cliIdentity())
	if storagetest.Postgres() { // storage.path stays the default, relative to the file
		policy = fmt.Sprintf("[storage]\nurl = %q\n", testDB(t, home)) + policy
	}
	writeConfig(t, conf, policy)
	elsewhere := t.TempDir()

	code, out, stderr := run(t, home, fastSandbox, "exec", "--config", "team.toml", "--sandbox", "--as", "ops", "--json", "rent", "3090")
	if code != exitPending {
		t.Fatalf("rent: exit %d\n%s\n%s", code, out, stderr)
	}
	var confirm string
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var line execLine
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatal(err)
		}
		if line.Type == "pending" {
			confirm = line.ConfirmCommand
		}
	}
	want := "clorebot --config " + conf + " --sandbox exec --as ops confirm "
	if !strings.HasPrefix(confirm, want) || !strings.Contains(stderr, "`"+confirm+"`") {
		t.Fatalf("confirm_command %q, want %q<job>; stderr:\n%s", confirm, want, stderr)
	}
	code, out, stderr = run(t, elsewhere, fastSandbox, shellWords(t, confirm)...)
	if code != 0 || !strings.Contains(out, "is running") {
		t.Fatalf("pasted %q in another directory: exit %d\n%s\n%s", confirm, code, out, stderr)
	}
	cancel := regexp.MustCompile(`(?m)^  cancel: (clorebot .*)$`).FindStringSubmatch(out)
	status := regexp.MustCompile("`(clorebot [^`]*exec[^`]* status \\d+)` shows them again").FindStringSubmatch(out)
	if cancel == nil || status == nil {
		t.Fatalf("no cancel or status command in:\n%s", out)
	}
	if code, got, _ := run(t, elsewhere, fastSandbox, shellWords(t, status[1])...); code != 0 || !strings.Contains(got, "ssh -p ") {
		t.Fatalf("pasted %q: exit %d\n%s", status[1], code, got)
	}
	if code, got, _ := run(t, elsewhere, fastSandbox, shellWords(t, cancel[1])...); code != 0 || !strings.Contains(got, "cancelled") {
		t.Fatalf("pasted %q: exit %d\n%s", cancel[1], code, got)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "clorebot.db")); err == nil {
		t.Error("a pasted command created a database in the directory it ran in")
	}
}

// exec's and clorebot's flags may follow the command; a flag the command
// does not take is refused with where flags go.
func TestExecFlagsAfterTheText(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := run(t, dir, fastSandbox, "exec", "market", "4090", "--json", "--sandbox")
	var line execLine
	if code != 0 || json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &line) != nil || line.Type != "reply" || len(line.Models) != 1 {
		t.Fatalf("exec market 4090 --json --sandbox: exit %d\n%s\n%s", code, out, stderr)
	}
	code, _, stderr = run(t, dir, fastSandbox, "exec", "--sandbox", "market", "4090", "--jsn")
	if code != exitFailure || !strings.Contains(stderr, "may come before or after the command") ||
		!strings.Contains(stderr, "`clorebot --sandbox exec help market`") {
		t.Fatalf("a misspelt flag: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := run(t, dir, fastSandbox, "exec", "--sandbox", "status", "--as"); code != exitUsage || !strings.Contains(stderr, "--as needs a value") {
		t.Fatalf("--as without a value: exit %d\n%s", code, stderr)
	}
}

// exec help needs no Clore API key, no database, and quotes the team's
// policy: --hours up to policy.max_hours, the image a rent really gets, no
// configured currency that no key sets.
func TestExecHelpWithoutCredentials(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "clorebot.toml"), "[policy]\nmax_hours = 72.0\ndefault_hours = 2.0\n")
	code, out, stderr := run(t, dir, nil, "exec", "help", "rent")
	if code != 0 {
		t.Fatalf("exec help rent: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"up to 72 (default 2)", "(default: cloreai/ubuntu22.04-cuda-12.4)",
		"(default: any currency your wallet can pay)", "cancelled after 2 hours"} {
		if !strings.Contains(out, want) {
			t.Errorf("help rent lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"8760", "configured image", "from the config"} {
		if strings.Contains(out, bad) {
			t.Errorf("help rent says %q:\n%s", bad, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "clorebot.db")); err == nil {
		t.Error("exec help created a database")
	}
	if code, out, _ := run(t, dir, nil, "exec", "help"); code != 0 || !strings.Contains(out, "rent <gpu>") {
		t.Fatalf("exec help: exit %d\n%s", code, out)
	}
}

// Against real Clore, exec refuses to start on a database that does not
// exist (it would rent orders no serve watches); a relative storage.path
// in the configuration file is relative to that file, wherever exec runs.
func TestExecDatabaseDoesNotDependOnTheWorkingDirectory(t *testing.T) {
	storagetest.Skip(t, "where storage.path's file is, and whether it exists")
	home, elsewhere := t.TempDir(), t.TempDir()
	conf := filepath.Join(home, "clorebot.toml")
	writeConfig(t, conf, "[clore]\napi_key = \"k-not-used\"\napi_url = \"http://127.0.0.1:1/v1\"\n[storage]\npath = \"data/clorebot.db\"\n")
	code, _, stderr := run(t, elsewhere, nil, "exec", "--config", conf, "status")
	if code != exitUsage || !strings.Contains(stderr, filepath.Join(home, "data", "clorebot.db")+" (storage.path) does not exist") {
		t.Fatalf("exec on a missing database: exit %d\n%s", code, stderr)
	}
	for _, d := range []string{home, elsewhere} {
		if entries, _ := os.ReadDir(d); len(entries) > 1 || len(entries) == 1 && entries[0].Name() != "clorebot.toml" {
			t.Errorf("exec created files in %s: %v", d, entries)
		}
	}
	// migrate creates it where the configuration says; exec then finds it
	// from any directory.
	if code, out, stderr := run(t, elsewhere, nil, "migrate", "--config", conf); code != 0 || !strings.Contains(out, filepath.Join(home, "data", "clorebot.db")) {
		t.Fatalf("migrate: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr := run(t, elsewhere, nil, "exec", "--config", conf, "help")
	if code != 0 {
		t.Fatalf("exec help: %d\n%s\n%s", code, out, stderr)
	}
	if code, _, stderr := run(t, elsewhere, nil, "config", "check", "--config", conf); code != 0 {
		t.Fatalf("config check: %d\n%s", code, stderr)
	} else if _, err := os.Stat(filepath.Join(elsewhere, "data")); err == nil {
		t.Error("a directory was created under the working directory")
	}
}

// A database left where earlier versions looked for a relative
// storage.path (the working directory) is not silently replaced by a new
// one next to the configuration file.
func TestMovedDatabaseRefused(t *testing.T) {
	storagetest.Skip(t, "a storage.path file left in the working directory")
	confDir, workDir := t.TempDir(), t.TempDir()
	conf := filepath.Join(confDir, "clorebot.toml")
	writeConfig(t, conf, "[clore]\nsandbox = true\n[storage]\npath = \"bot.db\"\n")
	if err := os.WriteFile(filepath.Join(workDir, "bot.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, workDir, []string{"CLOREBOT_HTTP_LISTEN=127.0.0.1:0"}, "serve", "--config", conf)
	if code != exitUsage || !strings.Contains(stderr, "move the database") || !strings.Contains(stderr, filepath.Join(workDir, "bot.db")) {
		t.Fatalf("serve with the database left in the working directory: exit %d\n%s", code, stderr)
	}
}
