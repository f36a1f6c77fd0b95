package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// flakyNotifier fails the first delivery that carries connection details
// (the platform answered 5xx, the DM was refused, a 429 outlasted its
// retries) and records every delivery and every attempt.
type flakyNotifier struct {
	mu       sync.Mutex
	failed   bool
	attempts int
	private  []commands.Reply
	public   []commands.Reply
}

func (n *flakyNotifier) Notify(_ context.Context, _ commands.Target, r commands.Reply) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.public = append(n.public, r.Public())
	if r.Private != nil {
		n.attempts++
		if !n.failed {
			n.failed = true
			return "", errors.New("chat.postEphemeral: 503; direct message: cannot_dm_bot")
		}
		n.private = append(n.private, r)
	}
	return "ref-1", nil
}

func (n *flakyNotifier) counts() (attempts, delivered int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.attempts, len(n.private)
}

// rentToEnd runs a rent of alice's through svc and returns its job.
func rentToEnd(t *testing.T, svc *commands.Service, user, text string) commands.Job {
	t.Helper()
	r := svc.Handle(context.Background(), req(user, text))
	if r.JobID == "" {
		t.Fatalf("%s = %+v", text, r)
	}
	job, err := svc.RunJob(context.Background(), r.JobID)
	if err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("job = %+v, %v", job, err)
	}
	return job
}

// storedPassword is the SSH password the job's row still holds ("" once wiped).
func storedPassword(t *testing.T, h *harness, jobID string) string {
	t.Helper()
	job, err := h.store.GetJob(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		SSHPassword string `json:"ssh_password"`
	}
	if err := json.Unmarshal(job.Params, &p); err != nil {
		t.Fatal(err)
	}
	return p.SSHPassword
}

// orderOf is the Clore order id of a succeeded rent job.
func orderOf(t *testing.T, job commands.Job) int64 {
	t.Helper()
	var res struct {
		OrderID int64 `json:"id"` // the job's result is the order's commands.OrderInfo
	}
	if err := json.Unmarshal(job.Result, &res); err != nil || res.OrderID == 0 {
		t.Fatalf("job %s result %s: %v", job.ID, job.Result, err)
	}
	return res.OrderID
}

// field is the value of the private part's field name, "" when absent.
func field(p *commands.PrivatePart, name string) string {
	if p == nil {
		return ""
	}
	for _, f := range p.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// publicText is everything of r that others may see, as text and as JSON.
func publicText(r commands.Reply) string {
	raw, _ := json.Marshal(r.Public())
	return r.PlainText(false) + "\n" + string(raw)
}

// pushes counts the progress replies that carried connection details.
func pushes(replies []commands.Reply) int {
	n := 0
	for _, r := range replies {
		if r.Private != nil {
			n++
		}
	}
	return n
}

// Review R2 (a): a process killed right after the "running" checkpoint,
// before the one Notify that carries the connection details, leaves the
// job succeeded and the order billing. The restarted process must not push
// them (a job never sends them twice: nothing resumes a succeeded job),
// but the renter gets them with `status <order-id>`: the ssh command and
// the password, in the private part only.
func TestConnectionDetailsAfterAKillAreShownToTheRenterByStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first := h.service(func(o *commands.Options) {
		o.WorkerID = "worker-1"
		o.AfterCheckpoint = func(j commands.Job) error {
			if j.State == commands.JobSucceeded {
				return errors.New("simulated kill -9 right after the running checkpoint")
			}
			return nil
		}
	})
	ctx := context.Background()
	r := first.Handle(ctx, req("slack:ALICE", "rent 3090"))
	if r.JobID == "" {
		t.Fatalf("rent = %+v", r)
	}
	if _, err := first.RunJob(ctx, r.JobID); err == nil {
		t.Fatal("the first run did not stop at the crash hook")
	}
	// The restarted process, its lease lapsed: its sweep and a worker that
	// would run the job find nothing to do.
	second := h.service(func(o *commands.Options) {
		o.WorkerID = "worker-2"
		o.Clock = offsetClock{commands.DefaultLease}
	})
	if err := second.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if resumable, err := h.store.ResumableJobs(ctx, time.Now().Add(commands.DefaultLease)); err != nil || len(resumable) != 0 {
		t.Fatalf("resumable after the kill = %+v, %v; want none (the job succeeded)", resumable, err)
	}
	job, err := second.RunJob(ctx, r.JobID)
	if err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("job = %+v, %v", job, err)
	}
	if n := pushes(h.replies.all()); n != 0 {
		t.Fatalf("connection details pushed %d times after the kill; the killed run pushed none and no run may push them later", n)
	}
	orders := h.cloreOrders(t)
	if len(orders) != 1 {
		t.Fatalf("orders at Clore = %+v, want 1", orders)
	}
	id := orderOf(t, job)
	password := storedPassword(t, h, job.ID)
	if password == "" {
		t.Fatal("the job row lost the password right after the kill")
	}
	st := second.Handle(ctx, req("slack:ALICE", fmt.Sprintf("status %d", id)))
	if st.Status != commands.StatusOK || st.Private == nil {
		t.Fatalf("status %d by its renter = %+v; want the order and its connection details", id, st)
	}
	if got := field(st.Private, "Password"); got != password {
		t.Errorf("status shows password %q, want the job's", got)
	}
	if ssh := field(st.Private, "SSH"); !strings.HasPrefix(ssh, "ssh -p ") || !strings.Contains(ssh, "root@") {
		t.Errorf("status shows SSH %q, want the order's ssh command (private part %+v)", ssh, st.Private)
	}
	if strings.Contains(publicText(st), password) {
		t.Errorf("the public part of status carries the password: %s", publicText(st))
	}
	if n := pushes(h.replies.all()); n != 0 {
		t.Fatalf("status pushed connection details through the notifier (%d)", n)
	}
}

// Review R2 (b): one failed send of the connection details is logged and
// never retried (no second push, even when a sweep and a worker see the
// job again), and the storage sweep keeps a chat rent's password for 24 h,
// so its renter reads them with `status <order-id>`; after the 24 h the
// status says the password is gone and how to reset it.
func TestFailedConnectionDetailsSendIsNotRetriedButStatusShowsThem(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	n := &flakyNotifier{}
	svc := h.service(func(o *commands.Options) { o.Notifier = n })
	ctx := context.Background()
	job := rentToEnd(t, svc, "slack:ALICE", "rent 3090")
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RunJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	if attempts, delivered := n.counts(); attempts != 1 || delivered != 0 {
		t.Fatalf("connection details: %d attempts, %d delivered; want the one failed attempt and no retry", attempts, delivered)
	}
	id := orderOf(t, job)
	last := n.public[len(n.public)-1]
	if want := fmt.Sprintf("`status %d` shows them again", id); !strings.Contains(commands.Unmark(last.Text), want) {
		t.Errorf("running message %q does not say %q", last.Text, want)
	}
	password := storedPassword(t, h, job.ID)
	now := time.Now()
	if _, err := h.store.WipeSecrets(ctx, now.Add(-24*time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if got := storedPassword(t, h, job.ID); got != password || got == "" {
		t.Fatal("the secret sweep wiped a chat rent's password before 24 h: its renter cannot read it again")
	}
	st := svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("status %d", id)))
	if got := field(st.Private, "Password"); got != password {
		t.Fatalf("status %d by its renter after a failed send: password %q (reply %+v)", id, got, st)
	}
	if strings.Contains(publicText(st), password) {
		t.Errorf("the public part of status carries the password: %s", publicText(st))
	}

	later := now.Add(25 * time.Hour)
	if _, err := h.store.WipeSecrets(ctx, later.Add(-24*time.Hour), later); err != nil {
		t.Fatal(err)
	}
	st = svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("status %d", id)))
	if st.Private == nil || field(st.Private, "Password") != "" || !strings.Contains(st.Private.Text, "removed after 24 h") ||
		!strings.Contains(st.Private.Text, "Clore dashboard") || field(st.Private, "SSH") == "" {
		t.Fatalf("status after the 24 h wipe: private %+v; want the ssh command and a note that the password was removed", st.Private)
	}
	if attempts, _ := n.counts(); attempts != 1 {
		t.Fatalf("status pushed connection details through the notifier (%d attempts)", attempts)
	}
}

// Only the renter sees an order's connection details: another renter, a
// viewer and an admin (who may see the order itself) get no private part,
// and nothing of the password anywhere in their reply.
func TestStatusDetailsOnlyForTheRenter(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	ctx := context.Background()
	job := rentToEnd(t, svc, "slack:ALICE", "rent 3090")
	id := orderOf(t, job)
	password := storedPassword(t, h, job.ID)
	for _, who := range []string{"slack:BOB", "slack:VERA", "slack:ADA", "slack:NOBODY"} {
		st := svc.Handle(ctx, req(who, fmt.Sprintf("status %d", id)))
		if st.Private != nil {
			t.Errorf("status %d by %s has a private part %+v", id, who, st.Private)
		}
		raw, _ := json.Marshal(st)
		if strings.Contains(string(raw), password) {
			t.Errorf("status %d by %s carries the password: %s", id, who, raw)
		}
	}
	if st := svc.Handle(ctx, req("slack:ADA", fmt.Sprintf("status %d", id))); st.Status != commands.StatusOK || len(st.Fields) != 1 {
		t.Errorf("the admin's status %d = %+v; want the order, without details", id, st)
	}
	if st := svc.Handle(ctx, req("slack:ALICE", "status")); st.Private != nil {
		t.Errorf("status without an order id has a private part %+v", st.Private)
	}
}

// An --ssh-key rent has no password: status names the key the renter gave.
func TestStatusDetailsOfAnSSHKeyRent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	job := rentToEnd(t, svc, "slack:ALICE", `rent 3090 --ssh-key "`+testSSHKey+`"`)
	id := orderOf(t, job)
	st := svc.Handle(context.Background(), req("slack:ALICE", fmt.Sprintf("status %d", id)))
	if field(st.Private, "Key") != "the SSH key you gave" || field(st.Private, "Password") != "" || st.Private.Text != "" {
		t.Fatalf("status of an --ssh-key rent: private %+v", st.Private)
	}
}

// A status that showed the connection details writes no secret to the
// audit log: its row holds the reply's public text only.
func TestStatusDetailsAreNotAudited(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	ctx := context.Background()
	job := rentToEnd(t, svc, "slack:ALICE", "rent 3090")
	id := orderOf(t, job)
	password := storedPassword(t, h, job.ID)
	st := svc.Handle(ctx, req("slack:ALICE", fmt.Sprintf("status %d", id)))
	if field(st.Private, "Password") != password {
		t.Fatalf("status showed no password: %+v", st)
	}
	if err := svc.FlushAudit(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := h.store.ListAudit(ctx, commands.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	statusRows := 0
	for _, e := range rows {
		if strings.HasPrefix(e.Command, "status") {
			statusRows++
		}
		if row := fmt.Sprintf("%+v", e); strings.Contains(row, password) {
			t.Errorf("audit row carries the SSH password: %s", row)
		}
	}
	if statusRows != 1 {
		t.Fatalf("%d status rows in the audit log, want 1: %+v", statusRows, rows)
	}
}

// A CLI rent's running message says how to see the details again from the
// command line.
func TestRunningMessageOfACLIRentNamesExecStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.Renters = append(h.policy.Renters, "cli:alice")
	svc := h.service()
	r := req("cli:alice", "rent 3090")
	r.Platform = commands.PlatformCLI
	reply := svc.Handle(context.Background(), r)
	job, err := svc.RunJob(context.Background(), reply.JobID)
	if err != nil || job.State != commands.JobSucceeded {
		t.Fatalf("job = %+v, %v", job, err)
	}
	all := h.replies.all()
	last := all[len(all)-1]
	if want := fmt.Sprintf("`clorebot exec status %d` shows them again", orderOf(t, job)); !strings.Contains(last.Text, want) {
		t.Fatalf("running message %q does not say %q", last.Text, want)
	}
}
