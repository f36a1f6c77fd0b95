package commands

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/clorebot/clorebot/clore"
)

// walletSnapshot is the wallets as the last wallets call saw them.
type walletSnapshot struct {
	balances map[string]float64 // by currency
	at       time.Time
}

// walletBalances are the wallets' balances from a wallets call younger than
// the tick (MarketTTL), else from a new one: many rents at once read them
// once, not once each. Calls that overlap share one.
func (s *Service) walletBalances(ctx context.Context) (*walletSnapshot, error) {
	if w := s.wallets.Load(); w != nil && s.clock.Now().Sub(w.at) < s.o.MarketTTL {
		return w, nil
	}
	err := s.walletFlight.do(ctx, func() error {
		if w := s.wallets.Load(); w != nil && s.clock.Now().Sub(w.at) < s.o.MarketTTL {
			return nil // a call that finished while this one waited
		}
		_, err := s.readWallets(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.wallets.Load(), nil
}

// readWallets asks Clore for the wallets at background priority and keeps
// the answer for walletBalances.
func (s *Service) readWallets(ctx context.Context) ([]clore.Wallet, error) {
	start := s.clock.Now() // an order made while the answer was on its way is not in it
	wallets, err := s.clore.Wallets(clore.WithPriority(ctx, clore.Background))
	if err != nil {
		return nil, err
	}
	b := make(map[string]float64, len(wallets))
	for _, w := range wallets {
		b[w.Name] = w.Balance
	}
	s.wallets.Store(&walletSnapshot{balances: b, at: start})
	return wallets, nil
}

// forgetWallets drops the kept wallets: a not_enough_balance answer says
// they changed.
func (s *Service) forgetWallets() { s.wallets.Store(nil) }

// choiceLimits are what a rent job's choice must respect beyond its own
// want: the servers other jobs hold or that were found taken since the
// snapshot, and the balances less what jobs in flight have committed.
type choiceLimits struct {
	exclude  []int64 // held and taken
	held     []int64 // held by other rents
	taken    []int64 // found taken since the snapshot
	balances map[string]float64
}

// limitsFor reads the claims that concern job's choice from marketAt's
// snapshot with wallets w.
func (s *Service) limitsFor(ctx context.Context, jobID string, marketAt time.Time, w *walletSnapshot) (choiceLimits, error) {
	since := marketAt
	if w.at.Before(marketAt) {
		since = w.at
	}
	claims, err := s.store.ServerClaims(ctx, jobID, since, s.clock.Now())
	if err != nil {
		return choiceLimits{}, fmt.Errorf("commands: server claims: %w", err)
	}
	l := choiceLimits{balances: make(map[string]float64, len(w.balances))}
	for cur, b := range w.balances {
		l.balances[cur] = b
	}
	for _, c := range claims {
		switch {
		case !c.Taken:
			l.held = append(l.held, c.ServerID)
			l.exclude = append(l.exclude, c.ServerID)
		case c.Unavailable || c.At.After(marketAt):
			l.taken = append(l.taken, c.ServerID)
			l.exclude = append(l.exclude, c.ServerID)
		}
		// What an order in flight (held) or made since the wallets were read
		// will spend is not the next rent's to spend.
		if c.Currency != "" && (!c.Taken || c.Ours && c.At.After(w.at)) {
			l.balances[c.Currency] -= c.PerHour
		}
	}
	return l, nil
}

// quoteBook ranks the offers of a marketplace snapshot once per want and
// keeps the quotes this process has given whose intake has not committed
// yet: with what the database says other rents were quoted (committed, in
// any process), the k-th rent of a burst is quoted the k-th offer, not the
// cheapest that the k rents before it will take. The intake transaction
// checks the quote again (QuoteCheck).
type quoteBook struct {
	mu      sync.Mutex
	snap    *marketSnapshot
	ranked  map[wantKey][]offerChoice // choose's answer, once per snapshot and want
	full    map[wantKey]time.Time     // when every candidate was last found spoken for
	pending map[int64]int             // server -> quotes given, intake not yet committed
}

// fullFor is how long a want whose candidates were all spoken for is
// quoted its last candidate without looking again: a queue of thousands of
// rents of one model costs one look a second, not one each.
const fullFor = time.Second

// rentQuote is the offer a rent is shown.
type rentQuote struct {
	offerChoice
	// candidates are the servers it was chosen among, best first.
	candidates []int64
	// free is true when no rent in flight was quoted or holds its server:
	// the intake transaction checks it again (QuoteCheck) and release must
	// be called once the intake returned. False: every candidate was spoken
	// for, and the last is quoted (the job meets what is left when it runs,
	// and a dearer fail-over asks for confirmation).
	free bool
}

// quote is the best offer for w in snap on a server that no rent in flight
// was quoted or holds, in this process or another on the database; false
// when snap has no offer for w.
func (s *Service) quote(ctx context.Context, snap *marketSnapshot, w want) (rentQuote, bool, error) {
	q := &s.quotes
	ranked := q.ranking(snap, w)
	ranked = ranked[:min(len(ranked), maxCandidates)]
	if len(ranked) == 0 {
		return rentQuote{}, false, nil
	}
	last := rentQuote{offerChoice: ranked[len(ranked)-1]}
	key, now := keyOf(w), s.clock.Now()
	q.mu.Lock()
	at, full := q.full[key]
	q.mu.Unlock()
	if full && now.Sub(at) < fullFor {
		return last, true, nil
	}
	ids := make([]int64, len(ranked))
	for i, c := range ranked {
		ids[i] = c.ServerID
	}
	spoken, err := s.store.SpokenServers(ctx, ids, snap.asked)
	if err != nil {
		return rentQuote{}, false, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, c := range ranked {
		if !spoken[c.ServerID] && q.pending[c.ServerID] == 0 {
			if q.pending == nil {
				q.pending = map[int64]int{}
			}
			q.pending[c.ServerID]++
			return rentQuote{offerChoice: c, candidates: ids, free: true}, true, nil
		}
	}
	if q.snap == snap {
		q.full[key] = now
	}
	return last, true, nil
}

// release ends a pending quote of server.
func (q *quoteBook) release(server int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending[server]--; q.pending[server] <= 0 {
		delete(q.pending, server)
	}
}

// maxCandidates bounds the servers a rent's quote looks up in the database.
const maxCandidates = 64

// firstFree is the best offer for w in snap on a server nobody has spoken
// for among the candidates, in the database (spoken) or in this process's
// pending quotes; that server is then pending too, and held is true: the
// caller releases it once its intake returned. When every candidate is
// spoken for it is the last candidate, not held; false when snap has no
// offer for w.
func (q *quoteBook) firstFree(snap *marketSnapshot, w want, spoken map[int64]bool) (c offerChoice, ok, held bool) {
	ranked := q.ranking(snap, w)
	ranked = ranked[:min(len(ranked), maxCandidates)]
	if len(ranked) == 0 {
		return offerChoice{}, false, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, c := range ranked {
		if !spoken[c.ServerID] && q.pending[c.ServerID] == 0 {
			if q.pending == nil {
				q.pending = map[int64]int{}
			}
			q.pending[c.ServerID]++
			return c, true, true
		}
	}
	return ranked[len(ranked)-1], true, false
}

// ranking is choose's answer for w in snap, once per snapshot and want.
func (q *quoteBook) ranking(snap *marketSnapshot, w want) []offerChoice {
	key := keyOf(w)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reset(snap)
	ranked, ok := q.ranked[key]
	if !ok {
		ranked = choose(snap.offersOf(w.Models), w, nil)
		q.ranked[key] = ranked
	}
	return ranked
}

// reset starts the counts and rankings again for a new snapshot.
func (q *quoteBook) reset(snap *marketSnapshot) {
	if q.snap != snap {
		q.snap, q.ranked, q.full = snap, map[wantKey][]offerChoice{}, map[wantKey]time.Time{}
	}
}

// keyOf identifies w without exclusions or preference.
func keyOf(w want) wantKey {
	return wantKey{strings.Join(w.Models, "\x00"), w.Count, w.MaxPerGPU, w.Spot, w.Currency, w.MinReliability}
}
