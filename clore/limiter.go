package clore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// Priority orders callers waiting for the limiter.
type Priority int

const (
	// Interactive calls were started by a user and are served first (the default).
	Interactive Priority = iota
	// Background calls come from polling loops and wait behind interactive ones.
	Background
)

func (p Priority) String() string {
	if p == Background {
		return "background"
	}
	return "interactive"
}

type priorityKey struct{}

// WithPriority marks the calls made with ctx as interactive or background.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityFrom returns the priority WithPriority set, Interactive by default.
func PriorityFrom(ctx context.Context) Priority {
	p, _ := ctx.Value(priorityKey{}).(Priority)
	return p
}

// Lanes of the limiter: every call uses laneAny, create_order also laneCreate.
const (
	laneAny    = "any"
	laneCreate = "create"
)

// SlotStore keeps the limiter's schedule: the earliest time each lane of a key
// may send again. A store shared between processes (storage.Store) makes them
// respect Clore's limits together.
type SlotStore interface {
	// ReserveSlot atomically picks slot = max(now, next time of every lane) and
	// moves each lane's next time to slot + its spacing.
	ReserveSlot(ctx context.Context, key string, now time.Time, lanes map[string]time.Duration) (time.Time, error)
	// NextSlot is the latest next time of the lanes, zero when none is set.
	NextSlot(ctx context.Context, key string, lanes []string) (time.Time, error)
}

// MemorySlots is a SlotStore for one process.
type MemorySlots struct {
	mu   sync.Mutex
	next map[string]time.Time
}

// NewMemorySlots returns an empty in-process SlotStore.
func NewMemorySlots() *MemorySlots { return &MemorySlots{next: map[string]time.Time{}} }

// ReserveSlot implements SlotStore.
func (m *MemorySlots) ReserveSlot(_ context.Context, key string, now time.Time, lanes map[string]time.Duration) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	slot := now
	for lane := range lanes {
		if t := m.next[key+"/"+lane]; t.After(slot) {
			slot = t
		}
	}
	for lane, d := range lanes {
		m.next[key+"/"+lane] = slot.Add(d)
	}
	return slot, nil
}

// NextSlot implements SlotStore.
func (m *MemorySlots) NextSlot(_ context.Context, key string, lanes []string) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for _, lane := range lanes {
		if t := m.next[key+"/"+lane]; t.After(next) {
			next = t
		}
	}
	return next, nil
}

// LimiterOptions configures a Limiter.
type LimiterOptions struct {
	// APIKey identifies the schedule; only a hash of it reaches the store.
	APIKey string
	// Interval between any two calls (Clore: 1 s) and between two create_order
	// calls (Clore: 5 s).
	Interval, CreateInterval time.Duration
	// Store holds the schedule; nil means an in-process MemorySlots.
	Store SlotStore
	// Observe, if set, is told how long each call waited.
	Observe func(p Priority, waited time.Duration)
}

// Limiter spaces the calls of one API key. Callers queue in priority order
// (interactive first, then first come first served); the head of the queue
// sleeps until the schedule lets it send, then reserves its slot.
type Limiter struct {
	key     string
	any     time.Duration
	create  time.Duration
	store   SlotStore
	observe func(Priority, time.Duration)

	mu     sync.Mutex
	queues [2][]*waiter
	busy   bool // a waiter holds the head of the line
}

type waiter struct {
	prio    Priority
	ready   chan struct{}
	granted bool
}

// NewLimiter returns a limiter; create one per API key and share it.
func NewLimiter(o LimiterOptions) *Limiter {
	if o.Store == nil {
		o.Store = NewMemorySlots()
	}
	sum := sha256.Sum256([]byte(o.APIKey))
	return &Limiter{
		key:     "clore:" + hex.EncodeToString(sum[:8]),
		any:     o.Interval,
		create:  o.CreateInterval,
		store:   o.Store,
		observe: o.Observe,
	}
}

// Wait blocks until the caller may send one request (a create_order when create
// is true). It returns ctx's error if ctx ends first.
func (l *Limiter) Wait(ctx context.Context, create bool) error {
	start := time.Now()
	w := &waiter{prio: PriorityFrom(ctx), ready: make(chan struct{})}
	l.enqueue(w, false)
	for {
		if !l.awaitTurn(ctx, w) {
			return ctx.Err()
		}
		yielded, err := l.turn(ctx, w, create)
		if yielded {
			continue // an interactive caller arrived while this background one slept
		}
		l.release()
		if err == nil && l.observe != nil {
			l.observe(w.prio, time.Since(start))
		}
		return err
	}
}

// turn runs while w holds the head of the line: it sleeps until the schedule
// allows a request and reserves the slot, unless it yields to an interactive
// caller first.
func (l *Limiter) turn(ctx context.Context, w *waiter, create bool) (yielded bool, err error) {
	lanes := map[string]time.Duration{laneAny: l.any}
	names := []string{laneAny}
	if create {
		lanes[laneCreate] = l.create
		names = append(names, laneCreate)
	}
	next, err := l.store.NextSlot(ctx, l.key, names)
	if err != nil {
		return false, fmt.Errorf("clore: limiter: %w", err)
	}
	if err := sleepUntil(ctx, next); err != nil {
		return false, err
	}
	if l.yield(w) {
		return true, nil
	}
	late := max(l.any/lateDivisor, minLate)
	for tries := 1; ; tries++ {
		slot, err := l.store.ReserveSlot(ctx, l.key, time.Now(), lanes)
		if err != nil {
			return false, fmt.Errorf("clore: limiter: %w", err)
		}
		// Another process may have taken the next slot in between: honour ours.
		if err := sleepUntil(ctx, slot); err != nil {
			return false, err
		}
		// A slot already well past when it was granted (the reservation
		// waited for the database, or this process was paused) would send
		// this call next to the one the following slot's holder, maybe
		// another process, sends on time: more than the spacing's margin
		// late, take a fresh slot instead.
		// A few tries at most: a process that is always that late (a
		// starved machine) sends rather than burning slots.
		if time.Since(slot) <= late || tries == maxLateTries {
			return false, nil
		}
	}
}

// lateDivisor sets how late after its slot a call may still be sent: a
// tenth of the configured spacing's 110 % (1.1 s for Clore's 1 s), the
// margin clorebot keeps over Clore's limit.
// minLate, at least, absorbs a timer's own lateness at short spacings; a
// call is re-slotted at most maxLateTries-1 times.
const (
	lateDivisor  = 11
	minLate      = 2 * time.Millisecond
	maxLateTries = 4
)

// enqueue adds w to its queue (at the front when it yields) and grants it the
// head at once when nobody holds it.
func (l *Limiter) enqueue(w *waiter, front bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := &l.queues[w.prio]
	if front {
		*q = append([]*waiter{w}, *q...)
	} else {
		*q = append(*q, w)
	}
	if !l.busy {
		l.grantNextLocked()
	}
}

// awaitTurn waits until w holds the head of the line and reports whether it
// does; when ctx ends first, w leaves the queue (or hands the head on).
func (l *Limiter) awaitTurn(ctx context.Context, w *waiter) bool {
	select {
	case <-w.ready:
		return true
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		l.grantNextLocked()
		return false
	}
	q := &l.queues[w.prio]
	for i, x := range *q {
		if x == w {
			*q = append((*q)[:i], (*q)[i+1:]...)
			break
		}
	}
	return false
}

// yield puts a background head back in front of its queue when an interactive
// caller waits, and reports whether it did so.
func (l *Limiter) yield(w *waiter) bool {
	l.mu.Lock()
	if w.prio != Background || len(l.queues[Interactive]) == 0 {
		l.mu.Unlock()
		return false
	}
	w.granted = false
	w.ready = make(chan struct{})
	l.queues[Background] = append([]*waiter{w}, l.queues[Background]...)
	l.grantNextLocked()
	l.mu.Unlock()
	return true
}

// release ends the current holder's turn.
func (l *Limiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.grantNextLocked()
}

// grantNextLocked hands the head to the first interactive, else background, waiter.
func (l *Limiter) grantNextLocked() {
	for p := range l.queues {
		if q := l.queues[p]; len(q) > 0 {
			w := q[0]
			l.queues[p] = q[1:]
			w.granted = true
			close(w.ready)
			l.busy = true
			return
		}
	}
	l.busy = false
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
