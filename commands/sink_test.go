package commands_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
)

// recordingSink keeps what it is offered; fail decides each event's fate.
type recordingSink struct {
	name string
	mu   sync.Mutex
	got  []commands.SinkEvent
	fail func(n int) error // n: how many events were offered before
}

func (s *recordingSink) SinkName() string { return s.name }

func (s *recordingSink) Deliver(_ context.Context, evs []commands.SinkEvent) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ev := range evs {
		if s.fail != nil {
			if err := s.fail(len(s.got)); err != nil {
				s.got = append(s.got, ev)
				return i, err
			}
		}
		s.got = append(s.got, ev)
	}
	return len(evs), nil
}

func (s *recordingSink) offered() []commands.SinkEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]commands.SinkEvent(nil), s.got...)
}

// emit stores a slack rent job with two lifecycle events.
func emit(t *testing.T, st *storage.Store) commands.Job {
	t.Helper()
	ctx := context.Background()
	j, _, err := st.CreateJob(ctx, commands.Job{Kind: commands.JobRent, IdempotencyKey: "k1", State: commands.JobQueued,
		RequestedBy: "slack:U1", Platform: commands.PlatformSlack, ReplyTarget: `{"c":"C1"}`})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if j, err = st.ClaimJob(ctx, j.ID, "w", now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	j.ReplyRef = "C1/1.2"
	err = st.SaveJob(ctx, "w", &commands.JobUpdate{Job: j, Events: []commands.Event{
		{Type: "order.running", JobID: j.ID}, {Type: "job.completed", JobID: j.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestOutboxCursorPerSink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "clorebot.db"))
	good := &recordingSink{name: "good"}
	flaky := &recordingSink{name: "flaky", fail: func(n int) error {
		if n == 0 {
			return errors.New("channel gone")
		}
		return nil
	}}
	down := &recordingSink{name: "down", fail: func(int) error { return commands.ErrSinkUnavailable }}
	x := commands.NewOutbox(commands.OutboxOptions{Store: st, Sinks: []commands.Sink{good, flaky, down}, MaxAttempts: 1})
	if err := x.Tick(ctx); err != nil { // cursors start at the newest event (none yet)
		t.Fatal(err)
	}
	j := emit(t, st)
	for range 2 {
		if err := x.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := good.offered()
	if len(got) != 2 || got[0].Type != "order.running" || got[0].Origin == nil || got[0].Origin.JobID != j.ID ||
		got[0].Origin.ReplyRef != "C1/1.2" || got[0].Origin.Platform != commands.PlatformSlack {
		t.Fatalf("good sink offered %+v", got)
	}
	if c, _ := st.SinkCursor(ctx, "good"); c != got[1].ID {
		t.Errorf("good cursor = %d, want %d", c, got[1].ID)
	}
	// The flaky sink's first event was skipped after its attempts; it got the next.
	if f := flaky.offered(); len(f) != 2 || f[1].Type != "job.completed" {
		t.Errorf("flaky sink offered %+v", f)
	}
	if c, _ := st.SinkCursor(ctx, "flaky"); c != got[1].ID {
		t.Errorf("flaky cursor = %d, want %d", c, got[1].ID)
	}
	// An unavailable sink never skips: its cursor stays before the events.
	if c, _ := st.SinkCursor(ctx, "down"); c >= got[0].ID {
		t.Errorf("down cursor = %d moved past event %d", c, got[0].ID)
	}
}

// An event's picture is drawn only when a sink asks for it, once however
// often it asks; a picture that fails is none, and the event still goes.
func TestOutboxDrawsPicturesLazilyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "clorebot.db"))
	var mu sync.Mutex
	drawn := map[int64]int{}
	images := func(_ context.Context, ev commands.Event) (*commands.Image, error) {
		mu.Lock()
		defer mu.Unlock()
		drawn[ev.ID]++
		if ev.Type == "job.completed" {
			return nil, errors.New("no data")
		}
		return &commands.Image{Name: "x.png", PNG: []byte{1}}, nil
	}
	sink := &recordingSink{name: "chat"}
	x := commands.NewOutbox(commands.OutboxOptions{Store: st, Sinks: []commands.Sink{sink}, Images: images})
	if err := x.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	emit(t, st)
	if err := x.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	got := sink.offered()
	if len(got) != 2 || got[0].Image == nil {
		t.Fatalf("offered %+v", got)
	}
	mu.Lock()
	n := len(drawn)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("%d pictures drawn before any sink asked", n)
	}
	for range 3 {
		if img := got[0].Image(ctx); img == nil || img.Name != "x.png" {
			t.Fatalf("picture %+v", img)
		}
		if img := got[1].Image(ctx); img != nil {
			t.Fatalf("a failed picture gave %+v", img)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if drawn[got[0].ID] != 1 || drawn[got[1].ID] != 1 {
		t.Errorf("drawn %v, want each once", drawn)
	}
}
