package storage

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

func TestWatchCRUD(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	expires := time.Date(2025, 4, 1, 0, 0, 0, 0, time.FixedZone("X", 7200))
	w := commands.Watch{
		Owner: "slack:U1", Platform: "slack", Channel: "C1", ReplyTarget: "slack:C1",
		GPUModel: "RTX 4090", MaxUSDPerGPU: 0.35, Count: 2, AutoRent: true,
		ExpiresAt: &expires, State: commands.WatchActive,
	}
	if _, err := s.CreateWatch(ctx, &w); err != nil {
		t.Fatalf("CreateWatch: %v", err)
	}
	if w.ID == 0 || !w.CreatedAt.Equal(epoch) || !w.UpdatedAt.Equal(epoch) {
		t.Fatalf("after CreateWatch: ID %d, CreatedAt %v, UpdatedAt %v", w.ID, w.CreatedAt, w.UpdatedAt)
	}
	got, err := s.GetWatch(ctx, w.ID)
	if err != nil {
		t.Fatalf("GetWatch: %v", err)
	}
	assertWatch(t, got, w)

	clock.Advance(time.Minute)
	w.State, w.AutoRent, w.ExpiresAt, w.MaxUSDPerGPU = commands.WatchTriggered, false, nil, 0.5
	if err := s.UpdateWatch(ctx, w); err != nil {
		t.Fatalf("UpdateWatch: %v", err)
	}
	got, err = s.GetWatch(ctx, w.ID)
	if err != nil {
		t.Fatalf("GetWatch: %v", err)
	}
	want := w
	want.UpdatedAt = epoch.Add(time.Minute)
	assertWatch(t, got, want)
}

// assertWatch compares watches, times by instant.
func assertWatch(t *testing.T, got, want commands.Watch) {
	t.Helper()
	norm := func(w commands.Watch) commands.Watch {
		w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
		if w.ExpiresAt != nil {
			w.ExpiresAt = ptr(w.ExpiresAt.UTC())
		}
		return w
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("watch =\n%+v\nwant\n%+v", g, w)
	}
}

func TestWatchErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if _, err := s.GetWatch(ctx, 404); !errors.Is(err, commands.ErrNotFound) {
		t.Errorf("GetWatch(404) err = %v, want ErrNotFound", err)
	}
	if err := s.UpdateWatch(ctx, commands.Watch{ID: 404, State: commands.WatchActive}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateWatch(404) err = %v, want ErrNotFound", err)
	}
	if _, err := s.CreateWatch(ctx, &commands.Watch{Owner: "x"}); err == nil {
		t.Error("CreateWatch without a state succeeded")
	}
}

func TestListWatches(t *testing.T) {
	ctx := context.Background()
	s, clock := newStore(t)
	seed := []struct{ owner, state string }{
		{"slack:A", commands.WatchActive},    // id 1
		{"slack:B", commands.WatchActive},    // id 2
		{"slack:A", commands.WatchCancelled}, // id 3
		{"slack:A", commands.WatchTriggered}, // id 4
		{"discord:C", commands.WatchExpired}, // id 5
	}
	for _, sd := range seed {
		clock.Advance(time.Second)
		if _, err := s.CreateWatch(ctx, &commands.Watch{Owner: sd.owner, State: sd.state}); err != nil {
			t.Fatalf("CreateWatch: %v", err)
		}
	}
	tests := []struct {
		name   string
		owner  string
		states []string
		want   []int64
	}{
		{"all, newest first", "", nil, []int64{5, 4, 3, 2, 1}},
		{"by owner", "slack:A", nil, []int64{4, 3, 1}},
		{"by state", "", []string{commands.WatchActive}, []int64{2, 1}},
		{"owner and states", "slack:A", []string{commands.WatchActive, commands.WatchTriggered}, []int64{4, 1}},
		{"no match", "cli:nobody", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			watches, err := s.ListWatches(ctx, tt.owner, tt.states...)
			if err != nil {
				t.Fatalf("ListWatches: %v", err)
			}
			var got []int64
			for _, w := range watches {
				got = append(got, w.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
		})
	}
}
