package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
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
	// No serve runs on this database: exec says that nothing enforces the
	// end it printed, and how to cancel the order by hand.
	until := regexp.MustCompile(`, until ([^.]+)\.`).FindStringSubmatch(out)
	if until == nil || !strings.Contains(out, "Nothing will cancel order #"+id[1]+" at "+until[1]+": no `clorebot serve` runs on this database.") ||
		!strings.Contains(out, "\n  cancel: clorebot --sandbox exec cancel "+id[1]+"\n") {
		t.Errorf("exec rent without a serve does not say who cancels the order at its end:\n%s", out)
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

// With a serve alive on the database (its heartbeat row), exec names it as
// what cancels the order at its end, in text and in JSON.
func TestExecRentNamesTheServeThatEndsIt(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := storage.OpenAndMigrate(ctx, testDB(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	beat := func() {
		t.Helper()
		if err := st.BeatServe(ctx, storage.ServeProcess{ID: "serve-test", PID: 4242, Host: "gpu-ops-1"}); err != nil {
			t.Fatal(err)
		}
	}
	beat()
	code, out, stderr := run(t, dir, fastSandbox, "exec", "--sandbox", "rent", "3090", "--hours", "2")
	if code != 0 {
		t.Fatalf("exec rent: exit %d\n%s\n%s", code, out, stderr)
	}
	m := regexp.MustCompile(`(?s)Order #(\d+) is running.*?, until ([^.]+)\.`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "clorebot serve (pid 4242, host gpu-ops-1) runs on this database and will cancel order #"+m[1]+" at "+m[2]+".") ||
		strings.Contains(out, "Nothing will cancel") {
		t.Fatalf("exec rent with a serve running does not name it:\n%s", out)
	}

	beat()
	code, out, stderr = run(t, dir, fastSandbox, "exec", "--sandbox", "--json", "rent", "3090", "--hours", "1")
	if code != 0 {
		t.Fatalf("exec --json rent: exit %d\n%s\n%s", code, out, stderr)
	}
	var ends struct {
		Type        string    `json:"type"`
		OrderID     int64     `json:"order_id"`
		EndsAt      time.Time `json:"ends_at"`
		CancelledBy *serveRef `json:"cancelled_by"`
	}
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if strings.Contains(l, `"type":"ends"`) {
			if err := json.Unmarshal([]byte(l), &ends); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ends.OrderID == 0 || ends.CancelledBy == nil || ends.CancelledBy.PID != 4242 || ends.CancelledBy.Host != "gpu-ops-1" ||
		ends.EndsAt.Before(time.Now().Add(50*time.Minute)) || ends.EndsAt.After(time.Now().Add(61*time.Minute)) {
		t.Fatalf("ends line = %+v in:\n%s", ends, out)
	}
}

// `exec --as` is for an admin's command line only (DESIGN §6): a CLI
// identity that policy lists as a viewer cannot act as an admin, and an
// admin's --as is audited under both identities.
func TestExecAsNeedsAnAdminAndNamesBoth(t *testing.T) {
	self := cliIdentity()
	dir := t.TempDir()
	viewer := []string{"CLOREBOT_POLICY_VIEWERS=" + self, "CLOREBOT_POLICY_ADMINS=slack:UADMIN"}
	code, out, stderr := run(t, dir, viewer, "exec", "--sandbox", "--as", "slack:UADMIN", "rent", "3090", "--hours", "1")
	if code != exitUsage || !strings.Contains(stderr, "needs the admin role") || !strings.Contains(stderr, self) {
		t.Fatalf("a viewer's --as slack:UADMIN: exit %d\n%s\n%s", code, out, stderr)
	}
	if code, out, _ := run(t, dir, viewer, "audit", "--sandbox", "--json"); code != 0 || strings.Contains(out, "rent") {
		t.Fatalf("the refused --as reached the command layer: %s", out)
	}
	// --as oneself is no impersonation.
	if code, out, stderr := run(t, dir, viewer, "exec", "--sandbox", "--as", self, "help"); code != 0 {
		t.Fatalf("--as oneself: exit %d\n%s\n%s", code, out, stderr)
	}

	admin := []string{"CLOREBOT_POLICY_ADMINS=" + self + ",slack:UADMIN", "CLOREBOT_SANDBOX_PROVISION_DELAY=200ms",
		"CLOREBOT_CLORE_MIN_INTERVAL=20ms", "CLOREBOT_CLORE_CREATE_INTERVAL=50ms"}
	if code, out, stderr := run(t, dir, admin, "exec", "--sandbox", "--as", "slack:UVERA", "status"); code != 0 {
		t.Fatalf("an admin's --as: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, _ = run(t, dir, admin, "audit", "--sandbox", "--json")
	var row commands.AuditEntry
	if code != 0 || json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &row) != nil {
		t.Fatalf("audit: %d\n%s", code, out)
	}
	if row.Actor != "slack:UVERA" || !strings.Contains(row.Channel, self) {
		t.Fatalf("audit row of --as = %+v; want actor slack:UVERA and %s named", row, self)
	}
}
