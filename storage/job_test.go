package storage

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// newJob is a valid job for CreateJob with the given idempotency key.
func newJob(key string) commands.Job {
	return commands.Job{
		Kind: commands.JobRent, IdempotencyKey: key, State: commands.JobQueued,
		RequestedBy: "slack:U1", Platform: "slack", Channel: "C1", ReplyTarget: "slack:C1",
		Params: json.RawMessage(`{"gpu":"RTX 4090","count":1}`),
	}
}

// createJob creates j and fails the test unless it was created.
func createJob(t *testing.T, s *Store, j commands.Job) commands.Job {
	t.Helper()
	got, created, err := s.CreateJob(context.Background(), j)
	if err != nil || !created {
		t.Fatalf("CreateJob(%q) = created %v, %v; want a new job", j.IdempotencyKey, created, err)
	}
	return got
}

// claimJob leases id to owner for an hour from now.
func claimJob(t *testing.T, s *Store, id, owner string, now time.Time) commands.Job {
	t.Helper()
	j, err := s.ClaimJob(context.Background(), id, owner, now, now.Add(time.Hour))
	if err != nil {
		t.Fatalf("ClaimJob(%s, %s): %v", id, owner, err)
	}
	return j
}

// assertJob compares jobs, times by instant.
func assertJob(t *testing.T, got, want commands.Job) {
	t.Helper()
	norm := func(j commands.Job) commands.Job {
		j.CreatedAt, j.UpdatedAt, j.LeaseUntil = j.CreatedAt.UTC(), j.UpdatedAt.UTC(), j.LeaseUntil.UTC()
		return j
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("job =\n%+v\nwant\n%+v", g, w)
	}
}

func TestCreateJobRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	in := newJob("discord:interaction:1")
	in.Step, in.ReplyRef, in.Error, in.Attempts = "reserve", "msg-1", "boom", 2
	in.Checkpoint = json.RawMessage(`{"server_id":42}`)
	got := createJob(t, s, in)

	if !regexp.MustCompile(`^[a-z2-7]{26}$`).MatchString(got.ID) {
		t.Errorf("generated ID = %q, want 26 lowercase base32 characters", got.ID)
	}
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = got.ID, epoch, epoch
	assertJob(t, got, want)
	if got.Result != nil {
		t.Errorf("Result = %q, want nil for a job stored without one", got.Result)
	}
	read, err := s.GetJob(ctx, got.ID)
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	assertJob(t, read, want)
	if _, err := s.GetJob(ctx, "missing"); !errors.Is(err, commands.ErrNotFound) {
		t.Errorf("GetJob(missing) err = %v, want ErrNotFound", err)
	}
	byKey, err := s.JobByKey(ctx, "discord:interaction:1")
	if err != nil {
		t.Fatalf("JobByKey: %v", err)
	}
	assertJob(t, byKey, want)
	if _, err := s.JobByKey(ctx, "discord:interaction:2"); !errors.Is(err, commands.ErrNotFound) {
		t.Errorf("JobByKey(missing) err = %v, want ErrNotFound", err)
	}

	explicit := newJob("webhook:abc")
	explicit.ID, explicit.Params = "my-id", nil
	explicit.CreatedAt = time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	got = createJob(t, s, explicit)
	if got.ID != "my-id" || !got.CreatedAt.Equal(explicit.CreatedAt) || !got.UpdatedAt.Equal(epoch) || got.Params != nil {
		t.Errorf("explicit job stored as %+v", got)
	}
}

func TestCreateJobRejects(t *testing.T) {
	s, _ := newStore(t)
	edit := func(f func(*commands.Job)) commands.Job { j := newJob("k"); f(&j); return j }
	tests := []struct {
		name string
		job  commands.Job
	}{
		{"no kind", edit(func(j *commands.Job) { j.Kind = "" })},
		{"no key", edit(func(j *commands.Job) { j.IdempotencyKey = "" })},
		{"no state", edit(func(j *commands.Job) { j.State = "" })},
		{"params not JSON", edit(func(j *commands.Job) { j.Params = json.RawMessage(`{`) })},
		{"checkpoint not JSON", edit(func(j *commands.Job) { j.Checkpoint = json.RawMessage(`nope`) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.CreateJob(context.Background(), tt.job); err == nil {
				t.Fatal("CreateJob succeeded, want an error")
			}
		})
	}
	if n := countRows(t, s, "jobs"); n != 0 {
		t.Fatalf("%d jobs stored after rejected creates, want 0", n)
	}
}

func TestCreateJobIDTakenByAnotherKey(t *testing.T) {
	s, _ := newStore(t)
	a := newJob("a")
	a.ID = "same"
	createJob(t, s, a)
	b := newJob("b")
	b.ID = "same"
	if _, _, err := s.CreateJob(context.Background(), b); !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
}

func TestCreateJobIdempotentConcurrently(t *testing.T) {
	tests := []struct {
		name   string
		stores int
	}{
		{"one store", 1},
		{"two stores on one file", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := migratedDBPath(t)
			var stores []*Store
			for range tt.stores {
				s, _ := newStoreAt(t, path)
				stores = append(stores, s)
			}
			const calls = 50
			jobs := make([]commands.Job, calls)
			created := make([]bool, calls)
			errs := make([]error, calls)
			var wg sync.WaitGroup
			for i := range calls {
				wg.Go(func() {
					jobs[i], created[i], errs[i] = stores[i%len(stores)].CreateJob(
						context.Background(), newJob("slack:trigger:42"))
				})
			}
			wg.Wait()
			creators := 0
			for i := range calls {
				if errs[i] != nil {
					t.Fatalf("call %d: %v", i, errs[i])
				}
				if created[i] {
					creators++
				}
				assertJob(t, jobs[i], jobs[0])
			}
			if creators != 1 {
				t.Errorf("%d calls reported created, want exactly 1", creators)
			}
			if n := countRows(t, stores[0], "jobs"); n != 1 {
				t.Errorf("%d jobs stored, want 1", n)
			}
		})
	}
}

func TestClaimJob(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	id := createJob(t, s, newJob("k")).ID
	t0 := epoch.UTC()
	steps := []struct {
		name    string
		owner   string
		now     time.Time
		wantErr error
	}{
		{"free job", "w1", t0, nil},
		{"held by another", "w2", t0.Add(30 * time.Minute), ErrLeased},
		{"at the expiry instant", "w2", t0.Add(time.Hour), ErrLeased},
		{"holder renews", "w1", t0.Add(50 * time.Minute), nil},
		{"renewed lease still held", "w2", t0.Add(90 * time.Minute), ErrLeased},
		{"expired", "w2", t0.Add(2 * time.Hour), nil},
		{"previous holder lost it", "w1", t0.Add(2*time.Hour + time.Minute), ErrLeased},
	}
	for _, st := range steps {
		until := st.now.Add(time.Hour)
		j, err := s.ClaimJob(ctx, id, st.owner, st.now, until)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: ClaimJob(%s) err = %v, want %v", st.name, st.owner, err, st.wantErr)
		}
		if err == nil && (j.LeaseOwner != st.owner || !j.LeaseUntil.Equal(until) || j.ID != id) {
			t.Fatalf("%s: claimed job %+v, want owner %s until %v", st.name, j, st.owner, until)
		}
	}
	got, err := s.GetJob(ctx, id)
	if err != nil || got.LeaseOwner != "w2" || !got.UpdatedAt.Equal(epoch) {
		t.Fatalf("GetJob after claims = %+v, %v; want w2's lease and UpdatedAt untouched", got, err)
	}
	if _, err := s.ClaimJob(ctx, "missing", "w1", t0, t0); !errors.Is(err, commands.ErrNotFound) {
		t.Fatalf("ClaimJob(missing) err = %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimJob(ctx, id, "", t0.Add(5*time.Hour), t0); err == nil {
		t.Fatal("ClaimJob with no owner succeeded")
	}
}

func TestReleaseJob(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	id := createJob(t, s, newJob("k")).ID
	now := epoch.UTC()
	claimJob(t, s, id, "w1", now)

	if err := s.ReleaseJob(ctx, id, "w2"); err != nil {
		t.Fatalf("ReleaseJob by a non-holder: %v", err)
	}
	if _, err := s.ClaimJob(ctx, id, "w2", now, now.Add(time.Hour)); !errors.Is(err, ErrLeased) {
		t.Fatalf("ClaimJob after a non-holder's release: err = %v, want ErrLeased", err)
	}
	if err := s.ReleaseJob(ctx, id, "w1"); err != nil {
		t.Fatalf("ReleaseJob: %v", err)
	}
	j, err := s.GetJob(ctx, id)
	if err != nil || j.LeaseOwner != "" || !j.LeaseUntil.IsZero() {
		t.Fatalf("after release job = %+v, %v; want no lease", j, err)
	}
	claimJob(t, s, id, "w2", now)
	if err := s.ReleaseJob(ctx, "missing", "w1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReleaseJob(missing) err = %v, want ErrNotFound", err)
	}
}

func TestResumableJobs(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	now := epoch.UTC().Add(24 * time.Hour)
	seed := []struct {
		key, state, lease string
		until             time.Duration // relative to now
	}{
		{"queued-free", commands.JobQueued, "", 0},
		{"running-expired", commands.JobRunning, "w1", -time.Second},
		{"running-held", commands.JobRunning, "w2", time.Minute},
		{"queued-held", commands.JobQueued, "w3", time.Nanosecond},
		{"awaiting", commands.JobAwaitingConfirmation, "", 0},
		{"succeeded", commands.JobSucceeded, "", 0},
		{"failed-expired", commands.JobFailed, "w1", -time.Hour},
		{"running-free", commands.JobRunning, "", 0},
	}
	for _, sd := range seed {
		clock.Advance(time.Second)
		j := newJob(sd.key)
		j.State, j.LeaseOwner = sd.state, sd.lease
		if sd.lease != "" {
			j.LeaseUntil = now.Add(sd.until)
		}
		createJob(t, s, j)
	}
	jobs, err := s.ResumableJobs(ctx, now)
	if err != nil {
		t.Fatalf("ResumableJobs: %v", err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.IdempotencyKey)
	}
	want := []string{"queued-free", "running-expired", "running-free"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("resumable = %v, want %v", got, want)
	}
}

func TestSaveJobWritesJobOrderAndEvents(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	job := createJob(t, s, newJob("k"))
	job = claimJob(t, s, job.ID, "w1", epoch)
	clock.Advance(time.Minute)
	saved := epoch.Add(time.Minute).UTC()

	job.State, job.Step, job.Attempts, job.ReplyRef = commands.JobRunning, "ordered", 1, "ts-1"
	job.Checkpoint = json.RawMessage(`{"server_id":42}`)
	u := &commands.JobUpdate{
		Job:   job,
		Order: &Order{ServerID: 42, GPUModel: "RTX 4090", State: OrderCreating, RequestedBy: "slack:U1"},
		Events: []commands.Event{
			{Type: "order.creating", JobID: job.ID},
			{Type: "job.step", JobID: job.ID, Data: json.RawMessage(`{"step":"ordered"}`), CreatedAt: epoch},
		},
	}
	if err := s.SaveJob(ctx, "w1", u); err != nil {
		t.Fatalf("SaveJob: %v", err)
	}
	if u.Order.ID == 0 || !u.Order.CreatedAt.Equal(saved) || !u.Job.UpdatedAt.Equal(saved) {
		t.Fatalf("after SaveJob order = %+v, job UpdatedAt %v", u.Order, u.Job.UpdatedAt)
	}
	got, err := s.GetJob(ctx, job.ID)
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	want := job
	want.UpdatedAt = saved
	assertJob(t, got, want)
	order, err := s.GetOrder(ctx, u.Order.ID)
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	assertOrder(t, order, *u.Order)
	var linked string
	if err := s.read.QueryRowContext(ctx, `SELECT job_id FROM orders WHERE id = ?`, order.ID).Scan(&linked); err != nil || linked != job.ID {
		t.Errorf("orders.job_id = %q, %v; want %q", linked, err, job.ID)
	}
	wantEvents := []commands.Event{
		{ID: 1, Type: "order.creating", JobID: job.ID, Data: json.RawMessage(`{}`), CreatedAt: saved},
		{ID: 2, Type: "job.step", JobID: job.ID, Data: json.RawMessage(`{"step":"ordered"}`), CreatedAt: epoch.UTC()},
	}
	assertEvents(t, u.Events, wantEvents)
	events, err := s.ListEvents(ctx, 0, 0)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	assertEvents(t, events, wantEvents)

	// A later step updates the order it created.
	u.Order.CloreOrderID, u.Order.State = ptr(int64(9001)), OrderRunning
	u.Events = []commands.Event{{Type: "order.running", JobID: job.ID, OrderID: ptr(int64(9001))}}
	if err := s.SaveJob(ctx, "w1", u); err != nil {
		t.Fatalf("second SaveJob: %v", err)
	}
	order, err = s.GetOrderByCloreID(ctx, 9001)
	if err != nil || order.ID != u.Order.ID || order.State != OrderRunning {
		t.Fatalf("order after update = %+v, %v", order, err)
	}
	if u.Events[0].ID != 3 {
		t.Errorf("third event ID = %d, want 3", u.Events[0].ID)
	}
}

// assertEvents compares events, times by instant.
func assertEvents(t *testing.T, got, want []commands.Event) {
	t.Helper()
	norm := func(es []commands.Event) []commands.Event {
		out := make([]commands.Event, len(es))
		for i, e := range es {
			e.CreatedAt = e.CreatedAt.UTC()
			out[i] = e
		}
		return out
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("events =\n%+v\nwant\n%+v", g, w)
	}
}

func TestSaveJobIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	taken := Order{ServerID: 1, CloreOrderID: ptr(int64(5)), State: OrderRunning}
	if err := s.CreateOrder(ctx, &taken); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	job := createJob(t, s, newJob("k"))
	job = claimJob(t, s, job.ID, "w1", epoch)
	clock.Advance(time.Minute)

	changed := job
	changed.State, changed.Step, changed.Attempts = commands.JobFailed, "x", 9
	changed.Result = json.RawMessage(`{"ok":false}`)
	event := commands.Event{Type: "job.failed", JobID: job.ID}
	tests := []struct {
		name    string
		update  commands.JobUpdate
		wantErr error
	}{
		{"duplicate clore order id", commands.JobUpdate{Job: changed, Events: []commands.Event{event},
			Order: &Order{ServerID: 2, CloreOrderID: ptr(int64(5)), State: OrderRunning}}, ErrConflict},
		{"missing order", commands.JobUpdate{Job: changed, Events: []commands.Event{event},
			Order: &Order{ID: 404, ServerID: 2, State: OrderRunning}}, ErrNotFound},
		{"bad event after the order", commands.JobUpdate{Job: changed,
			Order:  &Order{ServerID: 2, State: OrderCreating},
			Events: []commands.Event{event, {Type: "x", Data: json.RawMessage(`{`)}}}, nil},
		{"event without type", commands.JobUpdate{Job: changed, Events: []commands.Event{{}}}, nil},
		{"another owner", commands.JobUpdate{Job: changed, Events: []commands.Event{event}}, ErrLeased},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner := "w1"
			if tt.wantErr == ErrLeased {
				owner = "w2"
			}
			u := tt.update
			err := s.SaveJob(ctx, owner, &u)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("SaveJob err = %v, want %v", err, tt.wantErr)
			}
			got, err := s.GetJob(ctx, job.ID)
			if err != nil {
				t.Fatalf("GetJob: %v", err)
			}
			assertJob(t, got, job)
			if n := countRows(t, s, "outbox"); n != 0 {
				t.Errorf("%d events in the outbox, want 0", n)
			}
			if n := countRows(t, s, "orders"); n != 1 {
				t.Errorf("%d orders, want 1", n)
			}
			if u.Order != nil && u.Order.ID != tt.update.Order.ID {
				t.Errorf("order ID set to %d by a failed save", u.Order.ID)
			}
			for _, e := range u.Events {
				if e.ID != 0 {
					t.Errorf("event ID set to %d by a failed save", e.ID)
				}
			}
		})
	}
}

func TestSaveJobNeedsTheLease(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	job := createJob(t, s, newJob("k"))
	job.State = commands.JobRunning
	if err := s.SaveJob(ctx, "w1", &commands.JobUpdate{Job: job}); !errors.Is(err, commands.ErrLeased) {
		t.Fatalf("SaveJob on an unleased job: err = %v, want ErrLeased", err)
	}
	if err := s.SaveJob(ctx, "", &commands.JobUpdate{Job: job}); !errors.Is(err, ErrLeased) {
		t.Fatalf("SaveJob with no owner: err = %v, want ErrLeased", err)
	}
	claimJob(t, s, job.ID, "w1", epoch)
	if err := s.SaveJob(ctx, "w2", &commands.JobUpdate{Job: job}); !errors.Is(err, ErrLeased) {
		t.Fatalf("SaveJob by a non-holder: err = %v, want ErrLeased", err)
	}
	if err := s.SaveJob(ctx, "w1", &commands.JobUpdate{Job: job}); err != nil {
		t.Fatalf("SaveJob by the holder: %v", err)
	}
	job.ID = "missing"
	if err := s.SaveJob(ctx, "w1", &commands.JobUpdate{Job: job}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SaveJob on a missing job: err = %v, want ErrNotFound", err)
	}
}

func TestUpdateOrderAppendsEvents(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	o := Order{ServerID: 1, State: OrderCreating}
	if err := s.CreateOrder(ctx, &o); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	o.State = OrderRunning
	err := s.UpdateOrder(ctx, o, commands.Event{Type: "order.running"}, commands.Event{Type: "order.ready"})
	if err != nil {
		t.Fatalf("UpdateOrder: %v", err)
	}
	missing := Order{ID: 404, ServerID: 1, State: OrderRunning}
	if err := s.UpdateOrder(ctx, missing, commands.Event{Type: "lost"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UpdateOrder(missing) err = %v, want ErrNotFound", err)
	}
	events, err := s.ListEvents(ctx, 0, 0)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if len(events) != 2 || events[0].Type != "order.running" || events[1].Type != "order.ready" {
		t.Fatalf("events = %+v, want order.running and order.ready only", events)
	}
}

func TestListEventsPages(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	o := Order{ServerID: 1, State: OrderRunning}
	if err := s.CreateOrder(ctx, &o); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	for _, typ := range []string{"a", "b", "c", "d", "e"} {
		if err := s.UpdateOrder(ctx, o, commands.Event{Type: typ, OrderID: ptr(int64(7))}); err != nil {
			t.Fatalf("UpdateOrder: %v", err)
		}
	}
	tests := []struct {
		after int64
		limit int
		want  string
	}{
		{0, 0, "abcde"},
		{0, 2, "ab"},
		{2, 2, "cd"},
		{4, 10, "e"},
		{5, 10, ""},
	}
	for _, tt := range tests {
		events, err := s.ListEvents(ctx, tt.after, tt.limit)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		got := ""
		for _, e := range events {
			got += e.Type
			if e.OrderID == nil || *e.OrderID != 7 || e.JobID != "" {
				t.Errorf("event %+v lost its order id or gained a job id", e)
			}
		}
		if got != tt.want {
			t.Errorf("ListEvents(%d, %d) = %q, want %q", tt.after, tt.limit, got, tt.want)
		}
	}
}

func TestCountOrdersSince(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	seed := []struct{ by, state string }{
		{"slack:A", OrderRunning},
		{"slack:B", OrderFailed},
		{"slack:A", OrderCancelled},
		{"slack:A", OrderCreating},
	}
	for _, o := range seed {
		if err := s.CreateOrder(ctx, &Order{ServerID: 1, RequestedBy: o.by, State: o.state}); err != nil {
			t.Fatalf("CreateOrder: %v", err)
		}
		clock.Advance(time.Hour)
	}
	tests := []struct {
		who   string
		since time.Time
		want  int
	}{
		{"", time.Time{}, 4},
		{"slack:A", time.Time{}, 3},
		{"slack:A", epoch.Add(time.Hour), 2}, // at or after
		{"", epoch.Add(time.Hour + time.Nanosecond), 2},
		{"slack:B", epoch.Add(2 * time.Hour), 0},
		{"cli:nobody", time.Time{}, 0},
	}
	for _, tt := range tests {
		got, err := s.CountOrdersSince(ctx, tt.who, tt.since)
		if err != nil || got != tt.want {
			t.Errorf("CountOrdersSince(%q, %v) = %d, %v; want %d", tt.who, tt.since, got, err, tt.want)
		}
	}
}

// countRows counts the rows of table.
func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.read.QueryRowContext(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}
