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
	if _, err := s.CreateWatch(ctx, &w, 0); err != nil {
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
	if _, err := s.CreateWatch(ctx, &commands.Watch{Owner: "x"}, 0); err == nil {
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
		if _, err := s.CreateWatch(ctx, &commands.Watch{Owner: sd.owner, State: sd.state}, 0); err != nil {
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

// WatchChanges: the live watches first, then only what was written since,
// ended watches included so that a reader drops them.
func TestWatchChanges(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	mk := func(state string) commands.Watch {
		w := commands.Watch{Owner: "slack:U1", GPUModel: "RTX 4090", Models: []string{"RTX 4090"}, MaxUSDPerGPU: 0.3, Count: 1, State: state}
		if _, err := s.CreateWatch(ctx, &w, 0); err != nil {
			t.Fatal(err)
		}
		return w
	}
	a, _, _ := mk(commands.WatchActive), mk(commands.WatchCancelled), mk(commands.WatchTriggered)
	ws, upTo, err := s.WatchChanges(ctx, 0)
	if err != nil || len(ws) != 2 || upTo != 3 {
		t.Fatalf("first load: %d watches, up to %d, %v", len(ws), upTo, err)
	}
	if again, same, err := s.WatchChanges(ctx, upTo); err != nil || len(again) != 0 || same != upTo {
		t.Fatalf("nothing changed: %d watches, up to %d, %v", len(again), same, err)
	}
	a.State = commands.WatchCancelled
	if err := s.UpdateWatch(ctx, a); err != nil {
		t.Fatal(err)
	}
	d := mk(commands.WatchActive)
	ws, upTo2, err := s.WatchChanges(ctx, upTo)
	if err != nil || len(ws) != 2 || ws[0].ID != a.ID || ws[0].State != commands.WatchCancelled || ws[1].ID != d.ID || upTo2 != upTo+2 {
		t.Fatalf("changes: %+v, up to %d, %v", ws, upTo2, err)
	}
}

func TestWatchPricesRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if ps, at, err := s.WatchPrices(ctx); err != nil || len(ps) != 0 || !at.IsZero() {
		t.Fatalf("empty: %v %v %v", ps, at, err)
	}
	gone := epoch.Add(time.Minute)
	in := []commands.SeenPrice{{Model: "RTX 4090", Count: 1, USDPerGPU: 0.3, ServerID: 7, Since: epoch},
		{Model: "RTX 3090", Count: 2, USDPerGPU: 0.2, ServerID: 8, Since: epoch, GoneAt: &gone}}
	if err := s.SaveWatchPrices(ctx, gone, in); err != nil {
		t.Fatal(err)
	}
	in[0].USDPerGPU = 0.25
	if err := s.SaveWatchPrices(ctx, gone.Add(time.Minute), in[:1]); err != nil {
		t.Fatal(err)
	}
	ps, at, err := s.WatchPrices(ctx)
	if err != nil || len(ps) != 2 || !at.Equal(gone.Add(time.Minute)) {
		t.Fatalf("prices %+v at %v: %v", ps, at, err)
	}
	slices.SortFunc(ps, func(a, b commands.SeenPrice) int { return a.Count - b.Count })
	if ps[0].USDPerGPU != 0.25 || ps[1].GoneAt == nil || !ps[1].GoneAt.Equal(gone) {
		t.Fatalf("prices %+v", ps)
	}
}
