package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Review R3: `exec rent` interrupted while its order provisions, then
// finished by `serve` as the README promises. serve pushes the connection
// details to no one (its notifiers act on their own platforms; the job's
// is cli) and must not; the interrupt message says how to get them, and
// `clorebot exec status <order-id>` by the same CLI identity prints the
// ssh command and the password, which another identity never sees.
func TestInterruptedExecRentFinishedByServeShowsDetailsToItsRenter(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	environ := []string{"CLOREBOT_SANDBOX_PROVISION_DELAY=4s", "CLOREBOT_CLORE_MIN_INTERVAL=10ms",
		"CLOREBOT_CLORE_CREATE_INTERVAL=20ms", "CLOREBOT_HTTP_LISTEN=127.0.0.1:0", "CLOREBOT_WATCH_INTERVAL=1s"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newWatchBuffer()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, []string{"exec", "--sandbox", "rent", "3090"}, environ, out, &stderr) }()
	select {
	case <-out.seen("Provisioning order #"):
	case code := <-done:
		t.Fatalf("exec ended early: %d\n%s\n%s", code, out, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no provisioning:\n%s", out)
	}
	cancel() // Ctrl-C
	<-done
	id := regexp.MustCompile(`Provisioning order #(\d+)`).FindStringSubmatch(out.String())[1]
	if want := "`clorebot exec status " + id + "` shows its connection details"; !strings.Contains(out.String(), want) {
		t.Errorf("the interrupt message does not say %q:\n%s", want, out)
	}

	// A serve on the same database and sandbox finishes the job: its log
	// notifier reports the job's last progress (its public part only).
	sctx, stop := context.WithCancel(context.Background())
	defer stop()
	sout, serr := newWatchBuffer(), newWatchBuffer()
	served := make(chan int, 1)
	go func() { served <- Main(sctx, []string{"serve", "--sandbox"}, environ, sout, serr) }()
	select {
	case <-serr.seen("status=ok user=cli:"): // the job's "running" progress
	case code := <-served:
		t.Fatalf("serve ended early: %d\n%s", code, serr)
	case <-time.After(40 * time.Second):
		t.Fatalf("serve did not finish the job:\n%s", serr)
	}
	stop()
	<-served
	password := regexp.MustCompile(`(?i)password`)
	if password.MatchString(serr.String()) || password.MatchString(sout.String()) {
		t.Fatalf("serve's output mentions a password:\n%s\n%s", sout, serr)
	}

	_, status, _ := run(t, dir, environ, "exec", "--sandbox", "status", id)
	if !strings.Contains(status, "running") {
		t.Fatalf("serve did not finish the job:\n%s", status)
	}
	m := regexp.MustCompile(`(?m)^  Password: (\S+)$`).FindStringSubmatch(status)
	if m == nil || !regexp.MustCompile(`(?m)^  SSH: ssh -p \d+ root@\S+$`).MatchString(status) {
		t.Fatalf("order #%s is running (billing) after serve finished the interrupted exec rent, but `exec status %s` by its renter shows no connection details:\n%s", id, id, status)
	}
	_, other, _ := run(t, dir, environ, "exec", "--sandbox", "--as", "cli:mallory", "status", id)
	if strings.Contains(other, m[1]) || strings.Contains(other, "only you see this") {
		t.Fatalf("`exec status %s` by another identity shows the renter's connection details:\n%s", id, other)
	}
}
