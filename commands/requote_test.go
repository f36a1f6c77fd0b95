package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
)

// Issue 25: a rent quoted again after its intake found its server taken.

// rivalIntake is a store whose intake of the rent keyed victim first lets
// another rent (a rival, as another process would) commit the server the
// rent was quoted, so that the intake refuses the quote (QuoteTaken), on
// the first checked quote only or on every one (every). before, when set,
// runs first on every intake of a key's first delivery.
type rivalIntake struct {
	*storage.Store
	t      *testing.T
	victim string
	every  bool
	before func(key string, q *commands.QuoteCheck)

	mu     sync.Mutex
	seen   map[string]int // intakes per key
	rivals []int64        // servers the rivals were quoted
}

func (s *rivalIntake) Intake(ctx context.Context, u commands.IntakeUnit) (commands.IntakeResult, error) {
	if u.Job == nil || u.Guard == nil || u.Guard.Quote == nil {
		return s.Store.Intake(ctx, u)
	}
	key, q := u.Job.IdempotencyKey, u.Guard.Quote
	s.mu.Lock()
	s.seen[key]++
	n := s.seen[key]
	s.mu.Unlock()
	if n == 1 && s.before != nil {
		s.before(key, q)
	}
	if key == s.victim && !q.Unchecked && (n == 1 || s.every) {
		s.rival(ctx, q.Quoted)
	}
	return s.Store.Intake(ctx, u)
}

// rival commits a queued rent quoted server.
func (s *rivalIntake) rival(ctx context.Context, server int64) {
	s.mu.Lock()
	s.rivals = append(s.rivals, server)
	n := len(s.rivals)
	s.mu.Unlock()
	job := commands.Job{Kind: commands.JobRent, IdempotencyKey: fmt.Sprint("rival-", n), State: commands.JobQueued,
		RequestedBy: "slack:BOB", Platform: commands.PlatformSlack, Params: json.RawMessage(`{}`)}
	res, err := s.Store.Intake(ctx, commands.IntakeUnit{Job: &job,
		Guard: &commands.Guard{Quote: &commands.QuoteCheck{Quoted: server, Unchecked: true}}})
	if err != nil || !res.Created {
		s.t.Errorf("rival quoted server %d: %+v, %v", server, res, err)
	}
}

func (s *rivalIntake) rivalServers() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rivals)
}

// quotedServer is the server rent job id was quoted (its params' prefer).
func quotedServer(t *testing.T, st commands.Store, id string) int64 {
	t.Helper()
	j, err := st.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return preferOf(t, j)
}

// preferOf is the server rent job j was quoted (its params' prefer).
func preferOf(t *testing.T, j commands.Job) int64 {
	t.Helper()
	var p struct {
		Prefer int64 `json:"prefer"`
	}
	if err := json.Unmarshal(j.Params, &p); err != nil || p.Prefer == 0 {
		t.Fatalf("job %s params %s: %v", j.ID, j.Params, err)
	}
	return p.Prefer
}

func rentRequest(key string) commands.Request {
	return commands.Request{Platform: commands.PlatformSlack, User: "slack:ALICE", Channel: "C1",
		Text: "rent 3090 --hours 1", IdempotencyKey: key}
}

// Two rents of this process are in flight, quoted two servers, when a
// rent committed elsewhere takes the first one's: quoted again, it must
// not land on the second one's pending quote (it did: the re-quote skipped
// only what the database named, then was not held, and the two jobs of
// one burst could end up quoted one server). The second rent keeps its
// quote, checked, without a refusal.
func TestRequoteSkipsThisProcessPendingQuotes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.MaxActiveOrders, h.policy.MaxTeamActiveOrders, h.policy.MaxOrdersPerHour = 0, 0, 0
	secondArrived, firstDone := make(chan struct{}), make(chan struct{})
	var secondQuoted int64
	wait := func(c chan struct{}, what string) {
		select {
		case <-c:
		case <-time.After(20 * time.Second):
			t.Errorf("timed out waiting for %s", what)
		}
	}
	st := &rivalIntake{Store: h.store, t: t, victim: "first", seen: map[string]int{},
		before: func(key string, q *commands.QuoteCheck) {
			switch key {
			case "first": // both quotes are pending now
				wait(secondArrived, "the second rent's intake")
			case "second": // held until the first rent is stored
				secondQuoted = q.Quoted
				close(secondArrived)
				wait(firstDone, "the first rent")
			}
		}}
	svc := h.service(func(o *commands.Options) { o.Store = st })
	ctx := context.Background()
	var second commands.Reply
	var wg sync.WaitGroup
	wg.Go(func() { second = svc.Handle(ctx, rentRequest("second")) })
	first := svc.Handle(ctx, rentRequest("first"))
	close(firstDone)
	wg.Wait()
	for _, r := range []commands.Reply{first, second} {
		if r.Status != commands.StatusQueued || r.JobID == "" {
			t.Fatalf("rent: %+v", r)
		}
	}
	a, b := quotedServer(t, h.store, first.JobID), quotedServer(t, h.store, second.JobID)
	rivals := st.rivalServers()
	if len(rivals) != 1 || a == rivals[0] {
		t.Fatalf("first rent quoted server %d, rivals %v: want one rival and another server", a, rivals)
	}
	if a == secondQuoted {
		t.Errorf("first rent quoted again server %d, the second rent's pending quote", a)
	}
	if b != secondQuoted {
		t.Errorf("second rent stored with server %d, want its quote %d kept", b, secondQuoted)
	}
	if n := st.seen["second"]; n != 1 {
		t.Errorf("second rent submitted %d times, want once (never refused)", n)
	}
	if a == b || b == rivals[0] {
		t.Errorf("servers: first %d, second %d, rival %d: want three", a, b, rivals[0])
	}
}

// A rent whose quote is taken at every intake is quoted again
// maxRequotes times, then stored unchecked: on its latest quote, free when
// the last refusal was written, never on a quote a rival took (it was the
// refused one, and the two jobs shared its server).
func TestRequotesSpentStoreAFreeServer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.policy.MaxActiveOrders, h.policy.MaxTeamActiveOrders, h.policy.MaxOrdersPerHour = 0, 0, 0
	st := &rivalIntake{Store: h.store, t: t, victim: "victim", every: true, seen: map[string]int{}}
	svc := h.service(func(o *commands.Options) { o.Store = st })
	r := svc.Handle(context.Background(), rentRequest("victim"))
	if r.Status != commands.StatusQueued || r.JobID == "" {
		t.Fatalf("rent: %+v", r)
	}
	got, rivals := quotedServer(t, h.store, r.JobID), st.rivalServers()
	if len(rivals) != 4 {
		t.Errorf("%d refusals (rivals %v), want 4: the first quote and 3 re-quotes", len(rivals), rivals)
	}
	if slices.Contains(rivals, got) {
		t.Errorf("rent stored with server %d, which a rival was quoted (rivals %v)", got, rivals)
	}
	if n := st.seen["victim"]; n != 5 {
		t.Errorf("rent submitted %d times, want 5 (4 refused, then unchecked)", n)
	}
}

// movingMarket is the marketplace with every price times factor.
type movingMarket struct {
	commands.Clore
	mu     sync.Mutex
	factor float64
}

func (m *movingMarket) move(f float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.factor = f
}

func (m *movingMarket) Marketplace(ctx context.Context) ([]clore.Server, error) {
	servers, err := m.Clore.Marketplace(ctx)
	m.mu.Lock()
	f := m.factor
	m.mu.Unlock()
	if err != nil || f == 0 {
		return servers, err
	}
	for i := range servers {
		p := &servers[i].Price
		for _, prices := range []clore.Pricing{p.OnDemand, p.Spot} {
			for c, v := range prices {
				prices[c] = v * f
			}
		}
		p.USD.OnDemandUSD *= f
		p.USD.OnDemandBTC *= f
		p.USD.OnDemandCLORE *= f
		p.USD.Spot *= f
	}
	return servers, nil
}

// A duplicate delivery of a rent (Slack's retry, a redelivered webhook)
// is answered from the job its first delivery stored: the same server and
// price, even when the marketplace moved between them and a fresh quote
// would show another (the answer rendered one quote while the job kept
// the other's), or none at all (every offer now above the team's cap: the
// duplicate was refused while its job went on). Queued, or awaiting
// confirmation.
func TestDuplicateRentAnswersTheStoredQuote(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		confirm bool
		factor  float64
	}{{"queued", false, 1.07}, {"awaiting confirmation", true, 1.07}, {"no offer left within the cap", false, 100}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.policy.MaxActiveOrders, h.policy.MaxTeamActiveOrders, h.policy.MaxOrdersPerHour = 0, 0, 0
			want := commands.StatusQueued
			if c.confirm {
				h.policy.ConfirmAbove, want = 0.001, commands.StatusConfirm
			}
			m := &movingMarket{Clore: h.client}
			svc := h.service(func(o *commands.Options) { o.Clore = m })
			ctx := context.Background()
			first := svc.Handle(ctx, rentRequest("dup"))
			if first.Status != want || first.JobID == "" {
				t.Fatalf("first delivery: %+v", first)
			}
			m.move(c.factor)
			if err := svc.RefreshMarket(ctx); err != nil {
				t.Fatal(err)
			}
			again := svc.Handle(ctx, rentRequest("dup"))
			if again.JobID != first.JobID || again.Status != first.Status || again.Text != first.Text ||
				!slices.Equal(again.Buttons, first.Buttons) {
				t.Errorf("duplicate delivery answered\n%+v\nwant the first's\n%+v", again, first)
			}
			// The market did move: a new request is quoted another price,
			// or refused.
			other := svc.Handle(ctx, rentRequest("other"))
			if other.JobID == first.JobID || other.Text == first.Text {
				t.Errorf("a new rent after the move: %+v, want another answer than %+v", other, first)
			}
			if c.factor > 10 {
				if other.Status != commands.StatusError || other.JobID != "" {
					t.Errorf("a new rent above the cap: %+v, want refused", other)
				}
				return
			}
			// (A rent awaiting confirmation speaks for no server.)
			if a, b := quotedServer(t, h.store, first.JobID), quotedServer(t, h.store, other.JobID); a == b && !c.confirm {
				t.Errorf("both rents quoted server %d", a)
			}
		})
	}
}
