package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/scheduler"
	"github.com/clorebot/clorebot/storage"
)

// execCmd runs one command of the grammar through the command layer.
type execCmd struct {
	As        string        `help:"Identity to act as (default cli:<OS user>), e.g. slack:U123; only when cli:<OS user> is an admin, and the audit names both."`
	JSON      bool          `help:"Print one JSON object per line (type reply, progress, heartbeat, result, pending, interrupted)."`
	Yes       bool          `help:"Confirm a rent above policy.confirm_above instead of stopping at the confirmation."`
	Heartbeat time.Duration `help:"While a job runs, print how long it has run (and the provisioning deadline) this often." default:"15s"`
	Chart     string        `help:"Write the reply's chart (market <gpu> --history 24h|7d|30d) to this PNG file." placeholder:"FILE.png" type:"path"`
	Text      []string      `arg:"" passthrough:"" help:"The command, e.g. rent 4090 --max-price 0.5. exec's flags and --config, --sandbox, -v may also follow it."`
}

// errCommandFailed makes exec exit non-zero after a reply that reports failure.
var errCommandFailed = &exitError{code: exitFailure}

// Run handles the command, then runs its job (if any) to the end, printing
// progress. A rent awaiting confirmation exits with exitPending unless --yes;
// SIGINT exits with exitInterrupted after saying what is still running.
func (x execCmd) Run(e *env) error {
	if err := x.takeTrailingFlags(e.cli); err != nil {
		return &usageError{err}
	}
	if topic, ok := helpTopic(x.Text); ok {
		return x.help(e, topic)
	}
	cfg, err := e.load()
	if err != nil {
		return err
	}
	if err := checkDatabase(e, cfg); err != nil {
		return err
	}
	app := NewApp(cfg, e.logger(cfg))
	if err := app.openCore(e.ctx); err != nil {
		return errors.Join(err, app.Close())
	}
	defer app.Close()
	out := &execOutput{w: e.stdout, json: x.JSON, followUp: x.followUp(e)}
	notifier := commands.NotifierFunc(func(_ context.Context, _ commands.Target, r commands.Reply) (string, error) {
		out.progress(r)
		return "cli", nil
	})
	user, via, err := x.identities(policyFrom(cfg))
	if err != nil {
		return err
	}
	svc, err := x.service(app, notifier)
	if err != nil {
		return err
	}
	req := commands.Request{
		Platform: commands.PlatformCLI, User: user, Via: via, Channel: "cli",
		Text: strings.Join(x.Text, " "), IdempotencyKey: "cli:" + rand.Text(),
	}
	// A one-shot process has no background refresh: load what the command
	// answers from first (this may wait on the Clore limiter).
	if err := svc.Warm(e.ctx, req); err != nil {
		return err
	}
	reply := x.handle(e.ctx, svc, req)
	out.reply(e.ctx, svc, req, reply)
	if err := x.writeChart(reply, out); err != nil {
		return err
	}
	if reply.Status == commands.StatusError && reply.Usage != "" && strings.Contains(reply.Text, "flag") {
		fmt.Fprintln(e.stderr, "clorebot: exec's own flags (--json, --yes, --as, --heartbeat) and clorebot's (--config, --sandbox, -v) "+
			"may come before or after the command; any other flag belongs to the command: `"+out.exec("help "+commandName(req))+"` lists them")
	}
	if reply.Status == commands.StatusConfirm && reply.JobID != "" {
		if !x.Yes {
			out.pending(reply.JobID)
			return &exitError{code: exitPending, msg: fmt.Sprintf(
				"rent awaits confirmation: run `%s` (or repeat with --yes); nothing is rented until then", out.exec("confirm "+reply.JobID))}
		}
		reply = svc.ConfirmJob(e.ctx, req, reply.JobID)
		out.reply(e.ctx, svc, req, reply)
	}
	if reply.JobID != "" && reply.Status == commands.StatusQueued {
		return x.runJob(e, svc, app.store, req.User, reply.JobID, out)
	}
	return failed(reply)
}

// service builds exec's command layer and the scheduler it runs on for as
// long as exec runs (App.Close stops it): the scheduler package's task
// table with the one task a one-shot process needs, the early marketplace
// refresh that a request finding the snapshot old asks for. exec runs its
// job itself (runJob), so it has no job sweep; the rest of the table is
// serve's.
func (x execCmd) service(app *App, n commands.Notifier) (*commands.Service, error) {
	sched, err := scheduler.New(scheduler.Options{Logger: app.log})
	if err != nil {
		return nil, err
	}
	app.sched = sched
	svc := app.newService(n, app.log, func(o *commands.Options) {
		o.EarlyRefresh = func() { sched.Kick(scheduler.TaskEarlyRefresh) }
	})
	if err := (scheduler.Table{EarlyRefresh: svc.RefreshMarketEarly}).Register(sched); err != nil {
		return nil, err
	}
	sched.Start()
	return svc, nil
}

// handle answers the request. `confirm <job-id>` goes to ConfirmJob while
// the grammar does not know it yet (the sched helper adds it to every front
// door); once it parses, Handle answers it like any command.
func (x execCmd) handle(ctx context.Context, svc *commands.Service, req commands.Request) commands.Reply {
	if f := strings.Fields(req.Text); len(f) == 2 && f[0] == "confirm" {
		if _, err := commands.Parse(req.Text); err != nil {
			return svc.ConfirmJob(ctx, req, f[1])
		}
	}
	return svc.Handle(ctx, req)
}

// runJob runs the job to its end with a heartbeat, or follows it when a
// running serve has it; a rent that succeeded says who cancels its order
// at its end.
func (x execCmd) runJob(e *env, svc *commands.Service, st *storage.Store, who, id string, out *execOutput) error {
	hbCtx, stopHeartbeat := context.WithCancel(e.ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		x.heartbeat(hbCtx, svc, id, out)
	}()
	job, err := svc.RunJob(e.ctx, id)
	followed := errors.Is(err, commands.ErrLeased)
	if followed {
		// A running `clorebot serve` on the same database took the job.
		out.note("the job is being run by another clorebot process; following it")
		job, err = follow(e.ctx, svc, id)
	}
	stopHeartbeat()
	<-hbDone
	if e.ctx.Err() != nil {
		return interrupted(svc, who, id, out)
	}
	if err != nil {
		return err
	}
	v, verr := svc.ViewJob(context.WithoutCancel(e.ctx), id)
	if verr != nil {
		v = commands.JobView{JobID: job.ID, Kind: job.Kind, State: job.State, Error: job.Error}
	}
	if followed {
		handedOver(e.ctx, svc, who, v, out)
	}
	info, ierr := svc.DescribeJob(context.WithoutCancel(e.ctx), job)
	if ierr != nil {
		info = commands.NewJobInfo(job, nil)
	}
	out.result(info)
	if job.State != commands.JobSucceeded {
		return errCommandFailed
	}
	if v.Kind == commands.JobRent && v.CloreOrderID != nil {
		reportEnd(context.WithoutCancel(e.ctx), e, st, *v.CloreOrderID, out)
	}
	return nil
}

// reportEnd says who cancels the order at its end (the "until" of the
// rent's reply): a `clorebot serve` running on this database does, at its
// next tick; without one nothing does, and the order stays rented and
// billed until a serve runs here or its renter cancels it (the exact
// command). An order without an end says nothing.
func reportEnd(ctx context.Context, e *env, st *storage.Store, orderID int64, out *execOutput) {
	o, err := st.GetOrderByCloreID(ctx, orderID)
	if err != nil || o.ExpiresAt == nil {
		return
	}
	end := *o.ExpiresAt
	serve, alive, err := liveServe(ctx, st)
	if err != nil {
		alive = false // unknown counts as nobody: the renter is told how to cancel
	}
	out.ends(orderID, end, serve, alive, out.exec(fmt.Sprintf("cancel %d", orderID)))
}

// handedOver prints the connection details of a rent that another process
// finished while exec followed it: that process has no terminal to print
// them to, and the renter asked exec to rent. They come from the command layer as the renter's
// `status <order-id>` shows them; when they cannot, exec says how to ask.
func handedOver(ctx context.Context, svc *commands.Service, who string, v commands.JobView, out *execOutput) {
	if v.Kind != commands.JobRent || v.State != commands.JobSucceeded || v.CloreOrderID == nil {
		return
	}
	req := commands.Request{Platform: commands.PlatformCLI, User: who, Channel: "cli",
		Text: fmt.Sprintf("status %d", *v.CloreOrderID)}
	// This one-shot process has no orders snapshot yet: the ssh command
	// comes from my_orders (this may wait on the Clore limiter).
	var r commands.Reply
	if err := svc.Warm(ctx, req); err == nil {
		r = svc.Handle(ctx, req)
	}
	if r.Private == nil {
		out.note(fmt.Sprintf("`%s` shows the order's connection details.", out.exec(fmt.Sprintf("status %d", *v.CloreOrderID))))
		return
	}
	out.progress(commands.Reply{Status: commands.StatusOK, Visibility: commands.Private, Done: true, JobID: v.JobID, Private: r.Private})
}

// heartbeat prints, every x.Heartbeat, how long the job has run and, while
// its order provisions, the deadline after which it is cancelled.
func (x execCmd) heartbeat(ctx context.Context, svc *commands.Service, id string, out *execOutput) {
	if x.Heartbeat <= 0 {
		return
	}
	t := time.NewTicker(x.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			v, err := svc.ViewJob(ctx, id)
			if err != nil || commands.Terminal(v.State) {
				continue
			}
			out.heartbeat(v, now)
		}
	}
}

// interrupted says, after SIGINT, what is still running and how to follow or
// cancel it. A rent that has not sent create_order yet is abandoned: nothing
// was rented and nothing will be.
func interrupted(svc *commands.Service, who, id string, out *execOutput) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := svc.AbandonJob(ctx, id, who)
	if err != nil {
		if v, err = svc.ViewJob(ctx, id); err != nil {
			v = commands.JobView{JobID: id, State: "unknown"}
		}
	}
	out.interrupted(v)
	return &exitError{code: exitInterrupted}
}

func failed(r commands.Reply) error {
	switch r.Status {
	case commands.StatusError, commands.StatusDenied, commands.StatusFailed:
		return errCommandFailed
	}
	return nil
}

// identities are who the command acts as and, with --as, who acts
// (DESIGN §6): --as is for an admin's command line only (cli:<OS user> an
// admin by policy), and the audit row names both.
func (x execCmd) identities(p commands.Policy) (user, via string, err error) {
	self := cliIdentity()
	if x.As == "" {
		return self, "", nil
	}
	as := x.As
	if !strings.Contains(as, ":") {
		as = commands.PlatformCLI + ":" + as
	}
	if as == self {
		return self, "", nil
	}
	if role := p.Role(self); role < commands.RoleAdmin {
		return "", "", &usageError{fmt.Errorf("--as %s: acting as another identity needs the admin role; %s has %s", as, self, role)}
	}
	return as, self, nil
}

// cliIdentity is cli:<OS user>.
func cliIdentity() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return commands.PlatformCLI + ":" + name
}

// follow waits until another process has finished the job.
func follow(ctx context.Context, svc *commands.Service, id string) (commands.Job, error) {
	for {
		job, err := svc.Job(ctx, id)
		if err != nil || commands.Terminal(job.State) {
			return job, err
		}
		select {
		case <-ctx.Done():
			return job, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// writeChart writes the reply's chart to --chart's file. A reply that
// failed writes nothing (its error is the answer); one that succeeded
// without a chart is an error: the script asked for a file.
func (x execCmd) writeChart(r commands.Reply, out *execOutput) error {
	if x.Chart == "" || r.Status == commands.StatusError || r.Status == commands.StatusDenied {
		return nil
	}
	if r.Image == nil {
		return &exitError{code: exitFailure, msg: "exec: --chart: this reply has no chart (market <gpu> --history 24h|7d|30d draws one; " +
			"none is drawn before prices are recorded)"}
	}
	if err := os.WriteFile(x.Chart, r.Image.PNG, 0o644); err != nil {
		return fmt.Errorf("exec: --chart: %w", err)
	}
	out.note(fmt.Sprintf("chart written to %s (%d bytes)", x.Chart, len(r.Image.PNG)))
	return nil
}
