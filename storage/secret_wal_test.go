package storage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/clorebot/clorebot/commands"

	"github.com/clorebot/clorebot/storage/storagetest"
)

// TestWipedPasswordNotLeftInWAL wipes passwords one by one while the
// background checkpointer runs back to back (its worst moment, every
// time): right after TakeConnection returns, no wiped password may be in
// the database or its -wal file. Before the wipe's checkpoint and the
// background one were serialized, the wipe's TRUNCATE answered busy and
// left the frames in the WAL.
func TestWipedPasswordNotLeftInWAL(t *testing.T) {
	storagetest.Skip(t, "the WAL file")
	path := tempDBPath(t)
	s, clock := newStoreAt(t, path)
	ctx := context.Background()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				s.checkpoint(ctx)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 60 {
		pw := fmt.Sprintf("PW%02dzq7x9k2m4v6b8n1c3p5r7t9w", i)
		j, _, err := s.CreateJob(ctx, commands.Job{ID: fmt.Sprintf("job%03d", i), Kind: commands.JobRent,
			IdempotencyKey: fmt.Sprintf("k%d", i), State: commands.JobSucceeded, RequestedBy: "webhook:zap",
			Platform: commands.PlatformWebhook, CreatedAt: clock.Now(),
			Params: []byte(`{"gpu":"RTX 4090","ssh_password":"` + pw + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		data := []byte(`{"job_id":"` + j.ID + `","fields":[{"name":"Password","value":"` + pw + `"}]}`)
		if err := s.EnqueueConnection(ctx, j.ID, data, "", "", "", clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.TakeConnection(ctx, j.ID); !ok || err != nil {
			t.Fatalf("TakeConnection(%s) = %v, %v", j.ID, ok, err)
		}
		for _, f := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(pw)) {
				t.Fatalf("wipe %d: the wiped password is still readable in %s right after TakeConnection", i, f)
			}
		}
	}
}

// TestCheckpointFinishesAPendingWipe: when a wipe's TRUNCATE could not
// complete, the background checkpointer truncates the WAL instead of a
// PASSIVE checkpoint, and stops once that succeeded.
func TestCheckpointFinishesAPendingWipe(t *testing.T) {
	storagetest.Skip(t, "WAL checkpoints")
	path := tempDBPath(t)
	s, clock := newStoreAt(t, path)
	ctx := context.Background()
	if _, _, err := s.CreateJob(ctx, commands.Job{ID: "job1", Kind: commands.JobRent, IdempotencyKey: "k1",
		State: commands.JobSucceeded, RequestedBy: "webhook:zap", Platform: commands.PlatformWebhook,
		CreatedAt: clock.Now(), Params: []byte(`{"gpu":"RTX 4090"}`)}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path + "-wal"); err != nil || st.Size() == 0 {
		t.Fatalf("want a non-empty WAL before the checkpoint: %v", err)
	}
	s.wipePending.Store(true)
	s.checkpoint(ctx)
	if st, err := os.Stat(path + "-wal"); err != nil || st.Size() != 0 {
		t.Fatalf("WAL after the pending wipe's checkpoint: %v, %v; want truncated", st.Size(), err)
	}
	if s.wipePending.Load() {
		t.Fatal("wipe still pending after a successful TRUNCATE")
	}
}
