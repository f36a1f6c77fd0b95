package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run this binary as clorebot itself, to send it real
// signals: CLOREBOTTEST_ARGS holds the arguments, separated by newlines.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("CLOREBOTTEST_ARGS"); ok {
		os.Exit(Main(context.Background(), strings.Split(args, "\n"), os.Environ(), os.Stdout, os.Stderr))
	}
	seedDatabase = seedFromTemplate
	os.Exit(m.Run())
}

// clorebotProcess is this test binary running as clorebot with args.
type clorebotProcess struct {
	cmd    *exec.Cmd
	stdout *watchBuffer
	stderr *watchBuffer
	stdin  io.WriteCloser
}

func startClorebot(t *testing.T, dir string, environ []string, args ...string) *clorebotProcess {
	t.Helper()
	environ = onTestDB(t, dir, environ, args)
	cmd := exec.Command(os.Args[0])
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "CLOREBOTTEST_ARGS="+strings.Join(args, "\n")), environ...)
	p := &clorebotProcess{cmd: cmd, stdout: newWatchBuffer(), stderr: newWatchBuffer()}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return p
}

// await waits for s on the process's stdout or stderr.
func (p *clorebotProcess) await(t *testing.T, s string) {
	t.Helper()
	select {
	case <-p.stdout.seen(s):
	case <-p.stderr.seen(s):
	case <-time.After(30 * time.Second):
		t.Fatalf("never printed %q\nstdout:\n%s\nstderr:\n%s", s, p.stdout, p.stderr)
	}
}

// wait returns the exit status, or -1 and the signal that killed it.
func (p *clorebotProcess) wait(t *testing.T) (int, syscall.Signal) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return -1, ws.Signal()
			}
			return ee.ExitCode(), 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, 0
	case <-time.After(30 * time.Second):
		// Kill it and let this Wait return before the test ends: the
		// cleanup's Wait must not run beside it (a data race that the race
		// detector would pin on whichever test runs next).
		_ = p.cmd.Process.Kill()
		<-done
		t.Fatalf("did not exit\nstdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
	}
	return 0, 0
}

// serve logs SIGHUP and keeps serving; SIGTERM shuts it down gracefully.
func TestServeSignals(t *testing.T) {
	t.Parallel()
	p := startClorebot(t, t.TempDir(), []string{"CLOREBOT_HTTP_LISTEN=127.0.0.1:0"}, "serve", "--sandbox")
	p.await(t, "clorebot serving")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.await(t, "SIGHUP received and ignored")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, sig := p.wait(t); code != 0 || sig != 0 {
		t.Fatalf("serve after SIGTERM: exit %d signal %v\n%s", code, sig, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "shutting down") || !strings.Contains(p.stderr.String(), "configuration file") &&
		!strings.Contains(p.stderr.String(), "no configuration file") {
		t.Errorf("no graceful shutdown or config source in the log:\n%s", p.stderr)
	}
}

// exec on a real SIGINT says what is still running and exits 130.
func TestExecSIGINT(t *testing.T) {
	t.Parallel()
	p := startClorebot(t, t.TempDir(), []string{"CLOREBOT_SANDBOX_PROVISION_DELAY=1h",
		"CLOREBOT_CLORE_MIN_INTERVAL=10ms", "CLOREBOT_CLORE_CREATE_INTERVAL=20ms"}, "exec", "--sandbox", "rent", "3090")
	p.await(t, "Provisioning order #")
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code, _ := p.wait(t)
	if code != exitInterrupted || !strings.Contains(p.stdout.String(), "cancel: clorebot --sandbox exec cancel ") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, p.stdout, p.stderr)
	}
}

// One-shot commands keep the default signal action: `webhook sign` waiting
// for its body on standard input ends at once on SIGINT.
func TestOneShotCommandExitsAtOnceOnSIGINT(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/clorebot.toml", []byte("[[webhook.keys]]\nname = \"ci\"\nsecret = \"a-long-enough-text-secret-0123456789\"\nroles = [\"viewer\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startClorebot(t, dir, nil, "webhook", "sign", "--key", "ci")
	// Standard input stays open: sign waits for the body until the signal.
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code, sig := p.wait(t); sig != syscall.SIGINT {
		t.Fatalf("webhook sign after SIGINT: exit %d, signal %v; want killed by SIGINT", code, sig)
	}
}
