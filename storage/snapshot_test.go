package storage

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestSnapshotSaveLoad(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if _, _, err := s.LoadSnapshot(ctx, "market"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LoadSnapshot before any save: %v, want ErrNotFound", err)
	}
	at := epoch.Add(time.Minute)
	if err := s.SaveSnapshot(ctx, "market", at, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(ctx, "orders", at.Add(time.Hour), []byte("orders")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		at       time.Time
		data     string
		wantAt   time.Time
		wantData string
	}{
		{"newer replaces", at.Add(time.Second), "second", at.Add(time.Second), "second"},
		{"older is ignored", at, "stale", at.Add(time.Second), "second"},
		{"same time replaces", at.Add(time.Second), "again", at.Add(time.Second), "again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.SaveSnapshot(ctx, "market", tt.at, []byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			data, got, err := s.LoadSnapshot(ctx, "market")
			if err != nil || !got.Equal(tt.wantAt) || got.Location() != time.UTC || string(data) != tt.wantData {
				t.Fatalf("LoadSnapshot = %q, %v, %v; want %q at %v (UTC)", data, got, err, tt.wantData, tt.wantAt)
			}
		})
	}
	// One row per kind: the orders snapshot is its own.
	if data, got, err := s.LoadSnapshot(ctx, "orders"); err != nil || string(data) != "orders" || !got.Equal(at.Add(time.Hour)) {
		t.Fatalf("orders snapshot = %q, %v, %v", data, got, err)
	}
	// Binary data comes back byte for byte.
	blob := []byte{0x1f, 0x8b, 0, 0xff, '\n', 0}
	if err := s.SaveSnapshot(ctx, "bin", at, blob); err != nil {
		t.Fatal(err)
	}
	if data, _, err := s.LoadSnapshot(ctx, "bin"); err != nil || !bytes.Equal(data, blob) {
		t.Fatalf("binary snapshot = %v, %v", data, err)
	}
	if err := s.SaveSnapshot(ctx, "", at, blob); err == nil {
		t.Error("SaveSnapshot with an empty kind succeeded")
	}
}

func TestServeProcesses(t *testing.T) {
	s, clock := newStore(t)
	ctx := context.Background()
	start := clock.Now()
	a := ServeProcess{ID: "worker-a", PID: 101, Host: "h1", StartedAt: start}
	b := ServeProcess{ID: "worker-b", PID: 202, Host: "h2"}
	if err := s.BeatServe(ctx, a); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	if err := s.BeatServe(ctx, b); err != nil {
		t.Fatal(err)
	}
	live, err := s.LiveServes(ctx, start)
	if err != nil || len(live) != 2 || live[0].ID != "worker-b" || live[1].ID != "worker-a" {
		t.Fatalf("LiveServes = %+v, %v; want b then a", live, err)
	}
	if got := live[1]; got.PID != 101 || got.Host != "h1" || !got.StartedAt.Equal(start) || !got.SeenAt.Equal(start) {
		t.Errorf("worker-a = %+v", got)
	}
	if got := live[0]; !got.StartedAt.Equal(clock.Now()) || !got.SeenAt.Equal(clock.Now()) {
		t.Errorf("worker-b's zero times are not the store's clock: %+v", got)
	}
	// a's next beat renews seen_at and keeps started_at.
	clock.Advance(time.Second)
	if err := s.BeatServe(ctx, ServeProcess{ID: "worker-a", PID: 101, Host: "h1", StartedAt: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	live, err = s.LiveServes(ctx, clock.Now().Add(-500*time.Millisecond))
	if err != nil || len(live) != 1 || live[0].ID != "worker-a" || !live[0].StartedAt.Equal(start) {
		t.Fatalf("LiveServes after a's beat = %+v, %v; want a alone, started at %v", live, err, start)
	}
	if err := s.EndServe(ctx, "worker-a"); err != nil {
		t.Fatal(err)
	}
	if live, err = s.LiveServes(ctx, start); err != nil || len(live) != 1 || live[0].ID != "worker-b" {
		t.Fatalf("LiveServes after a ended = %+v, %v", live, err)
	}
}
