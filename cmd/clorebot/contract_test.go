package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/internal/contract"
)

// The command line's machine output validates against docs/schema: every
// line `exec --json` prints (a rent awaiting confirmation, one confirmed
// with --yes and its heartbeats, result and end, status of all orders and
// of one with its connection details, market, an error), `audit --json`,
// `version --json` and `config check --json` (valid and not).
func TestCommandLineJSONKeepsTheContract(t *testing.T) {
	s := contract.LoadSchemas(t)
	dir := t.TempDir()
	environ := append([]string{"CLOREBOT_POLICY_CONFIRM_ABOVE=0.001"}, fastSandbox...)
	execJSON := func(want int, args ...string) string {
		t.Helper()
		code, out, stderr := run(t, dir, environ, append([]string{"exec", "--sandbox", "--json"}, args...)...)
		if code != want {
			t.Fatalf("exec --json %v: exit %d\n%s\n%s", args, code, out, stderr)
		}
		if n := s.ValidateLines(t, "exec-line.json", out); n == 0 {
			t.Fatalf("exec --json %v printed nothing", args)
		}
		return out
	}
	execJSON(exitPending, "rent", "3090")
	out := execJSON(exitOK, "--yes", "--heartbeat", "50ms", "rent", "3090")
	var result struct {
		Type  string
		Order struct {
			ID  int64
			SSH *struct{ Host, Password string }
		}
	}
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if strings.Contains(l, `"type":"result"`) {
			_ = json.Unmarshal([]byte(l), &result)
		}
	}
	if result.Order.ID == 0 || result.Order.SSH == nil || result.Order.SSH.Password == "" {
		t.Fatalf("no result line with the order and its ssh:\n%s", out)
	}
	status := execJSON(exitOK, "status")
	if !strings.Contains(status, `"orders":[{"id":`) {
		t.Errorf("status has no order objects:\n%s", status)
	}
	one := execJSON(exitOK, "status", regexp.MustCompile(`"id":(\d+)`).FindStringSubmatch(status)[1])
	if !strings.Contains(one, `"ssh":{`) {
		t.Errorf("the renter's status of one order has no ssh object:\n%s", one)
	}
	market := execJSON(exitOK, "market", "3090")
	if !strings.Contains(market, `"models":[{"model":"RTX 3090"`) {
		t.Errorf("market has no model objects:\n%s", market)
	}
	execJSON(exitFailure, "cancel", "999999999")

	code, out, stderr := run(t, dir, nil, "audit", "--sandbox", "--json")
	if code != 0 || s.ValidateLines(t, "audit.json", out) < 5 {
		t.Fatalf("audit --json: exit %d\n%s\n%s", code, out, stderr)
	}

	for _, args := range [][]string{{}, {"--since", "7d", "--by", "gpu"}, {"--by", "team"}} {
		code, out, stderr = run(t, dir, nil, append([]string{"spend", "--sandbox", "--json"}, args...)...)
		if code != 0 || s.ValidateLines(t, "spend.json", out) != 1 {
			t.Fatalf("spend --json %v: exit %d\n%s\n%s", args, code, out, stderr)
		}
	}

	code, out, _ = run(t, dir, nil, "version", "--json")
	if code != 0 {
		t.Fatalf("version --json: exit %d", code)
	}
	s.Validate(t, "version.json", []byte(out))

	code, out, stderr = run(t, dir, nil, "--sandbox", "config", "check", "--json")
	if code != 0 || !strings.Contains(out, `"valid": true`) {
		t.Fatalf("config check --json: exit %d\n%s\n%s", code, out, stderr)
	}
	s.Validate(t, "config-check.json", []byte(out))
	if err := os.WriteFile(filepath.Join(dir, "clorebot.toml"), []byte("[watch]\nintervall = \"1m\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, dir, nil, "--sandbox", "config", "check", "--json")
	if code != exitUsage || !strings.Contains(out, "intervall") {
		t.Fatalf("config check --json of a bad file: exit %d\n%s", code, out)
	}
	s.Validate(t, "config-check.json", []byte(out))
}
