package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

// rent → status → cancel as separate `clorebot exec --sandbox` invocations on
// one data directory, as a user would type them.
func TestExecRentStatusCancel(t *testing.T) {
	dir := t.TempDir()
	environ := []string{
		"CLOREBOT_SANDBOX_PROVISION_DELAY=500ms",
		"CLOREBOT_CLORE_MIN_INTERVAL=20ms", "CLOREBOT_CLORE_CREATE_INTERVAL=50ms",
	}
	code, out, stderr := run(t, dir, environ, "exec", "--sandbox", "rent", "3090", "--hours", "2")
	if code != 0 {
		t.Fatalf("exec rent: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"Renting RTX 3090", "Creating", "Provisioning order #", "is running", "ssh -p ", "Password"} {
		if !strings.Contains(out, want) {
			t.Errorf("exec rent output lacks %q:\n%s", want, out)
		}
	}
	id := regexp.MustCompile(`Order #(\d+) is running`).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("no order id in:\n%s", out)
	}

	code, out, _ = run(t, dir, environ, "exec", "--sandbox", "--json", "status")
	var reply commands.Reply
	if code != 0 || json.Unmarshal([]byte(out), &reply) != nil || len(reply.Fields) != 1 || !strings.Contains(reply.Fields[0].Name, id[1]) {
		t.Fatalf("exec status: exit %d\n%s", code, out)
	}

	code, out, _ = run(t, dir, environ, "exec", "--sandbox", "cancel", id[1])
	if code != 0 || !strings.Contains(out, "Order #"+id[1]+" cancelled") {
		t.Fatalf("exec cancel: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, dir, environ, "exec", "--sandbox", "status")
	if code != 0 || !strings.Contains(out, "No active orders") {
		t.Fatalf("status after cancel: exit %d\n%s", code, out)
	}
	// Bad input: usage, non-zero exit, nothing rented.
	code, out, _ = run(t, dir, environ, "exec", "--sandbox", "rent", "3090", "--max-price", "-1")
	if code == 0 || !strings.Contains(out, "usage: rent") {
		t.Fatalf("bad rent: exit %d\n%s", code, out)
	}
}

func TestAuditCommand(t *testing.T) {
	dir := t.TempDir()
	if code, out, _ := run(t, dir, nil, "exec", "--sandbox", "--as", "slack:U9", "rent", "3090"); code == 0 || !strings.Contains(out, "denied") {
		t.Fatalf("viewer rent: %d %s", code, out)
	}
	code, out, _ := run(t, dir, nil, "audit", "--sandbox")
	if code != 0 || !strings.Contains(out, "slack:U9") || !strings.Contains(out, "rent RTX 3090") || !strings.Contains(out, "denied") {
		t.Fatalf("audit: %d\n%s", code, out)
	}
	code, out, _ = run(t, dir, nil, "audit", "--sandbox", "--json", "--since", "1d")
	var row commands.AuditEntry
	if code != 0 || json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &row) != nil || row.Outcome != "denied" {
		t.Fatalf("audit --json: %d\n%s", code, out)
	}
	if code, _, stderr := run(t, dir, nil, "audit", "--since", "yesterday"); code != exitUsage || !strings.Contains(stderr, "--since") {
		t.Fatalf("bad --since: %d %s", code, stderr)
	}
}
