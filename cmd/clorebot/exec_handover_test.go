package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/config"
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
	_, out, id := interruptExecRent(t, environ)
	if want := "`clorebot --sandbox exec status " + id + "` shows its connection details"; !strings.Contains(out.String(), want) {
		t.Errorf("the interrupt message does not say %q:\n%s", want, out)
	}

	// A serve on the same database and sandbox finishes the job: its log
	// notifier reports the job's last progress (its public part only).
	sctx, stop := context.WithCancel(context.Background())
	defer stop()
	sout, serr := newWatchBuffer(), newWatchBuffer()
	served := make(chan int, 1)
	go func() {
		served <- Main(sctx, []string{"serve", "--sandbox"}, onTestDB(t, dir, environ, nil), sout, serr)
	}()
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

// Review R3, the other way there: exec's own run finds the job leased by a
// serve's sweep and follows it. The serve finishes it and pushes the
// details to no terminal; exec, once the job succeeded, prints them as the
// renter's `status <order-id>` shows them. The one push of the job stays
// the serve's.
func TestExecFollowingAJobServeRunsPrintsItsDetails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := config.Load(config.LoadOptions{
		Path: filepath.Join(dir, "absent.toml"),
		Environ: append(storageEnv(t, dir), "CLOREBOT_SANDBOX_PROVISION_DELAY=200ms",
			"CLOREBOT_CLORE_MIN_INTERVAL=10ms", "CLOREBOT_CLORE_CREATE_INTERVAL=20ms"),
		Override: func(c *config.Config) { c.Clore.Sandbox = true },
	})
	if err != nil {
		t.Fatal(err)
	}
	app := NewApp(cfg, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if err := app.openCore(ctx); err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	// The serve: it claims the job, then waits at its first checkpoint
	// until exec follows.
	claimed, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var pushes atomic.Int32
	serveSvc := app.newService(commands.NotifierFunc(func(_ context.Context, _ commands.Target, r commands.Reply) (string, error) {
		if r.Private != nil {
			pushes.Add(1)
		}
		return "", nil
	}), app.log, func(o *commands.Options) {
		o.AfterCheckpoint = func(commands.Job) error {
			once.Do(func() { close(claimed); <-proceed })
			return nil
		}
	})
	text := newWatchBuffer()
	out := &execOutput{w: text}
	execSvc := app.newService(commands.NotifierFunc(func(_ context.Context, _ commands.Target, r commands.Reply) (string, error) {
		out.progress(r)
		return "cli", nil
	}), app.log)
	req := commands.Request{Platform: commands.PlatformCLI, User: "cli:alice", Channel: "cli", Text: "rent 3090", IdempotencyKey: "cli:follow"}
	if err := execSvc.Warm(ctx, req); err != nil {
		t.Fatal(err)
	}
	reply := execSvc.Handle(ctx, req)
	if reply.JobID == "" {
		t.Fatalf("rent = %+v", reply)
	}
	served := make(chan error, 1)
	go func() { _, err := serveSvc.RunJob(ctx, reply.JobID); served <- err }()
	<-claimed
	ran := make(chan error, 1)
	go func() { ran <- execCmd{}.runJob(&env{ctx: ctx}, execSvc, app.store, req.User, reply.JobID, out) }()
	<-text.seen("following it")
	close(proceed)
	if err := <-served; err != nil {
		t.Fatalf("the serve's run: %v", err)
	}
	if err := <-ran; err != nil {
		t.Fatalf("exec following the job: %v\n%s", err, text)
	}
	job, err := app.store.GetJob(ctx, reply.JobID)
	if err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("job = %+v, %v", job, err)
	}
	var p struct {
		SSHPassword string `json:"ssh_password"`
	}
	if err := json.Unmarshal(job.Params, &p); err != nil || p.SSHPassword == "" {
		t.Fatalf("job params: %v (password kept: %v)", err, p.SSHPassword != "")
	}
	if !strings.Contains(text.String(), "  Password: "+p.SSHPassword+"\n") ||
		!regexp.MustCompile(`(?m)^  SSH: ssh -p \d+ root@\S+$`).MatchString(text.String()) {
		t.Fatalf("exec followed the job to its end but printed no connection details:\n%s", text)
	}
	if n := pushes.Load(); n != 1 {
		t.Fatalf("the job pushed its connection details %d times, want once (the serve's run)", n)
	}
}
