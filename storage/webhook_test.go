package storage

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWebhookClaimFinishReplay(t *testing.T) {
	s, clock := newStore(t)
	ctx := context.Background()
	hash, other := []byte("hash-1"), []byte("hash-2")
	now := clock.Now()
	stale := now.Add(-2 * time.Minute)

	first, _, _, _, err := s.ClaimWebhook(ctx, "zapier", "msg_1", hash, now, stale)
	if err != nil || !first {
		t.Fatalf("first claim = %v, %v; want first", first, err)
	}
	first, h, status, answer, err := s.ClaimWebhook(ctx, "zapier", "msg_1", hash, now, stale)
	if err != nil || first || !bytes.Equal(h, hash) || status != 0 || answer != nil {
		t.Fatalf("claim in flight = %v %q %d %q, %v; want the record at status 0", first, h, status, answer, err)
	}
	// The same id under another key is another message.
	if first, _, _, _, err := s.ClaimWebhook(ctx, "cron", "msg_1", other, now, stale); err != nil || !first {
		t.Fatalf("other key's claim = %v, %v", first, err)
	}
	if err := s.FinishWebhook(ctx, "zapier", "msg_1", 202, []byte(`{"status":"queued"}`), now); err != nil {
		t.Fatalf("FinishWebhook: %v", err)
	}
	// The first answer stays.
	if err := s.FinishWebhook(ctx, "zapier", "msg_1", 400, []byte(`{}`), now); err != nil {
		t.Fatalf("second FinishWebhook: %v", err)
	}
	first, h, status, answer, err = s.ClaimWebhook(ctx, "zapier", "msg_1", other, now, stale)
	if err != nil || first || !bytes.Equal(h, hash) || status != 202 || string(answer) != `{"status":"queued"}` {
		t.Fatalf("claim of a finished id = %v %q %d %q, %v", first, h, status, answer, err)
	}
	if err := s.FinishWebhook(ctx, "zapier", "msg_unknown", 200, nil, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("FinishWebhook of an unknown id = %v, want ErrNotFound", err)
	}
	if err := s.FinishWebhook(ctx, "zapier", "msg_1", 0, nil, now); err == nil {
		t.Error("FinishWebhook with status 0 succeeded")
	}
	if _, _, _, _, err := s.ClaimWebhook(ctx, "", "msg_1", hash, now, stale); err == nil {
		t.Error("claim without a key succeeded")
	}
}

func TestWebhookStaleClaimIsTakenOver(t *testing.T) {
	s, clock := newStore(t)
	ctx := context.Background()
	hash := []byte("h")
	t0 := clock.Now()
	if first, _, _, _, err := s.ClaimWebhook(ctx, "k", "m", hash, t0, t0.Add(-time.Minute)); err != nil || !first {
		t.Fatalf("claim = %v, %v", first, err)
	}
	later := t0.Add(3 * time.Minute)
	// Another body never takes a claim over.
	if first, _, _, _, err := s.ClaimWebhook(ctx, "k", "m", []byte("x"), later, later.Add(-time.Minute)); err != nil || first {
		t.Fatalf("claim with another hash = %v, %v; want not first", first, err)
	}
	if first, _, _, _, err := s.ClaimWebhook(ctx, "k", "m", hash, later, later.Add(-time.Minute)); err != nil || !first {
		t.Fatalf("stale claim taken over = %v, %v; want first", first, err)
	}
	// Taken over just now: not stale any more.
	if first, _, _, _, err := s.ClaimWebhook(ctx, "k", "m", hash, later, later.Add(-time.Minute)); err != nil || first {
		t.Fatalf("fresh claim = %v, %v; want not first", first, err)
	}
}

func TestWebhookForgetAndPurge(t *testing.T) {
	s, clock := newStore(t)
	ctx := context.Background()
	t0 := clock.Now()
	claim := func(id string, at time.Time) {
		t.Helper()
		if first, _, _, _, err := s.ClaimWebhook(ctx, "k", id, []byte(id), at, at.Add(-time.Minute)); err != nil || !first {
			t.Fatalf("claim %s = %v, %v", id, first, err)
		}
	}
	claim("old", t0)
	claim("new", t0.Add(25*time.Hour))
	claim("lost", t0.Add(25*time.Hour))
	if err := s.FinishWebhook(ctx, "k", "new", 200, []byte("{}"), t0.Add(25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetWebhook(ctx, "k", "new"); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetWebhook(ctx, "k", "lost"); err != nil {
		t.Fatal(err)
	}
	// Forgotten: the next delivery is first again. Answered: still answered.
	claim("lost", t0.Add(25*time.Hour))
	if _, _, status, _, _ := s.ClaimWebhook(ctx, "k", "new", []byte("new"), t0, t0); status != 200 {
		t.Errorf("an answered message was forgotten: status %d", status)
	}
	n, err := s.PurgeWebhooks(ctx, t0.Add(24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PurgeWebhooks = %d, %v; want 1", n, err)
	}
	claim("old", t0.Add(26*time.Hour))
}

// Concurrent claims of one message from two Stores on one file: one first.
func TestWebhookConcurrentClaimsOneFirst(t *testing.T) {
	path := migratedDBPath(t)
	s1, clock := newStoreAt(t, path)
	s2 := openStore(t, path)
	now := clock.Now()
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		st := s1
		if i%2 == 1 {
			st = s2
		}
		wg.Go(func() {
			first, _, _, _, err := st.ClaimWebhook(context.Background(), "k", "m", []byte("h"), now, now.Add(-time.Minute))
			if err != nil {
				t.Errorf("claim: %v", err)
			}
			if first {
				firsts.Add(1)
			}
		})
	}
	wg.Wait()
	if firsts.Load() != 1 {
		t.Fatalf("%d first claims, want 1", firsts.Load())
	}
}
