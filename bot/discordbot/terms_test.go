package discordbot_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/discordbot"
)

// switchTerms is leadership switched by the test (storage.Leader in serve).
type switchTerms struct {
	mu   sync.Mutex
	term context.Context
	end  context.CancelFunc
	next chan struct{}
}

func (s *switchTerms) Term() (context.Context, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.term, s.term != nil
}

func (s *switchTerms) NextTerm(ctx context.Context) (context.Context, error) {
	for {
		s.mu.Lock()
		t, next := s.term, s.next
		s.mu.Unlock()
		if t != nil {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-next:
		}
	}
}

func (s *switchTerms) lead() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.term, s.end = context.WithCancel(context.Background())
	close(s.next)
	s.next = make(chan struct{})
}

func (s *switchTerms) lose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end()
	s.term = nil
}

// With two serves on one database only the leader holds the gateway
// session (DESIGN.md §8): none while following, one from the start of a
// term, closed at its end, and one again at the next term. A follower is
// ready: the leader's session receives the gateway's events.
func TestGatewayFollowsLeadership(t *testing.T) {
	terms := &switchTerms{next: make(chan struct{})}
	h := newHarness(t, harnessOpts{noWait: true, bot: func(o *discordbot.Options) {
		fastBackoff(o)
		o.Terms = terms
	}})
	time.Sleep(300 * time.Millisecond)
	if st := h.fake.Stats(); st.Connections != 0 {
		t.Fatalf("a follower opened %d gateway connections", st.Connections)
	}
	if err := h.bot.Ready(context.Background()); err != nil {
		t.Fatalf("a follower is not ready: %v", err)
	}
	terms.lead()
	h.fake.WaitFor(t, 10*time.Second, "READY as leader", func() bool { return h.fake.Connected(1) })
	h.answered()
	terms.lose()
	h.fake.WaitFor(t, 10*time.Second, "the session closed after the term", func() bool { return h.fake.Stats().Open == 0 })
	if err := h.bot.Ready(context.Background()); err != nil {
		t.Fatalf("a former leader is not ready: %v", err)
	}
	terms.lead()
	h.fake.WaitFor(t, 10*time.Second, "a second session in the next term", func() bool {
		st := h.fake.Stats()
		return st.Connections == 2 && st.Open == 1
	})
	h.answered()
}
