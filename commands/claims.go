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

// quoteCounter numbers the rent quotes given from one marketplace snapshot
// per want: the k-th rent of a burst for one model is quoted the k-th
// cheapest offer (and prefers that server), not the cheapest that the k
// rents before it will take. A new snapshot (a refresh, or a rent's
// success marking its server rented) starts the count again.
type quoteCounter struct {
	mu     sync.Mutex
	snap   *marketSnapshot
	n      map[wantKey]int
	ranked map[wantKey][]offerChoice // choose's answer, once per snapshot and want
}

// next returns how many quotes for w the snapshot gave before this one.
func (q *quoteCounter) next(snap *marketSnapshot, w want) int {
	k := keyOf(w)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reset(snap)
	i := q.n[k]
	q.n[k]++
	return i
}

// nth is the k-th offer for w in snap (the last when there are fewer).
func (q *quoteCounter) nth(snap *marketSnapshot, w want, k int) offerChoice {
	ranked := q.ranking(snap, w)
	return ranked[min(k, len(ranked)-1)]
}

// maxCandidates bounds the servers a rent's quote looks up in the database.
const maxCandidates = 64

// candidates are the servers of the best offers for w in snap, best first,
// at most maxCandidates.
func (q *quoteCounter) candidates(snap *marketSnapshot, w want) []int64 {
	ranked := q.ranking(snap, w)
	ids := make([]int64, 0, min(len(ranked), maxCandidates))
	for _, c := range ranked[:min(len(ranked), maxCandidates)] {
		ids = append(ids, c.ServerID)
	}
	return ids
}

// firstFree is the best offer for w in snap on a server nobody has spoken
// for among the candidates (the last candidate when every one is), and
// whether there is an offer.
func (q *quoteCounter) firstFree(snap *marketSnapshot, w want, spoken map[int64]bool) (offerChoice, bool) {
	ranked := q.ranking(snap, w)
	ranked = ranked[:min(len(ranked), maxCandidates)]
	if len(ranked) == 0 {
		return offerChoice{}, false
	}
	for _, c := range ranked {
		if !spoken[c.ServerID] {
			return c, true
		}
	}
	return ranked[len(ranked)-1], true
}

// ranking is choose's answer for w in snap, once per snapshot and want.
func (q *quoteCounter) ranking(snap *marketSnapshot, w want) []offerChoice {
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
func (q *quoteCounter) reset(snap *marketSnapshot) {
	if q.snap != snap {
		q.snap, q.n, q.ranked = snap, map[wantKey]int{}, map[wantKey][]offerChoice{}
	}
}

// keyOf identifies w without exclusions or preference.
func keyOf(w want) wantKey {
	return wantKey{strings.Join(w.Models, "\x00"), w.Count, w.MaxPerGPU, w.Spot, w.Currency, w.MinReliability}
}

// quote is the offer a rent is shown: the best when no other rent was
// quoted from this snapshot for the same want, else the next one along
// (the last when there are fewer offers than rents: the job then meets
// what is left, and a dearer fail-over asks for confirmation).
func (s *Service) quote(snap *marketSnapshot, w want) (offerChoice, bool) {
	best, ok := snap.bestFor(w)
	if !ok {
		return best, false
	}
	k := s.quotes.next(snap, w)
	if k == 0 {
		return best, true
	}
	return s.quotes.nth(snap, w, k), true
}
