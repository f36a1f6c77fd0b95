package chat

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// slowMessenger is a platform whose posts to a blocked conversation hang
// (as a Web API call sitting out a 429's Retry-After does) until released.
type slowMessenger struct {
	mu      sync.Mutex
	blocked map[string]chan struct{} // dest -> closed when released
	posts   []string                 // dest: text
	edits   []string                 // ref: text
	fail    map[string]bool          // dest -> Post fails once released
}

func newSlowMessenger() *slowMessenger {
	return &slowMessenger{blocked: map[string]chan struct{}{}, fail: map[string]bool{}}
}

func (m *slowMessenger) block(dest string) func() {
	ch := make(chan struct{})
	m.mu.Lock()
	m.blocked[dest] = ch
	m.mu.Unlock()
	return func() { close(ch) }
}

func (m *slowMessenger) Post(ctx context.Context, dest string, r commands.Reply) (string, error) {
	m.mu.Lock()
	ch := m.blocked[dest]
	m.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail[dest] {
		delete(m.fail, dest)
		return "", fmt.Errorf("ratelimited")
	}
	m.posts = append(m.posts, dest+": "+r.Text)
	return "msg-" + dest, nil
}

func (m *slowMessenger) Edit(_ context.Context, ref string, r commands.Reply) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.edits = append(m.edits, ref+": "+r.Text)
	return nil
}

func (m *slowMessenger) state() (posts, edits []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.posts...), append([]string(nil), m.edits...)
}

func reply(text string) commands.Reply {
	return commands.Reply{Status: commands.StatusOK, Text: text, Visibility: commands.Public}
}

// Review C2: while one job's first post hangs in a platform's rate-limit
// backoff, nothing else waits for it — not the job's own later updates
// (coalesced into one edit after the post), not other jobs' posts and edits,
// not the cleanup of old entries.
func TestFollowerHoldsNoLockAcrossAPlatformCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newSlowMessenger()
		f := NewFollower(FollowerOptions{Messenger: m, MinGap: time.Second, Forget: time.Minute})
		ctx, cancel := context.WithCancel(t.Context())
		ran := make(chan error, 1)
		go func() { ran <- f.Run(ctx) }()
		defer func() { cancel(); <-ran }() // Run drains on its fake clock
		release := m.block("C-slow")

		posted := make(chan error, 1)
		go func() {
			_, err := f.Show(ctx, "job-slow", "C-slow", "", reply("queued"))
			posted <- err
		}()
		synctest.Wait() // job-slow's post hangs
		// The same job's next updates return at once and change nothing yet.
		for _, text := range []string{"creating", "provisioning"} {
			if ref, err := f.Show(ctx, "job-slow", "C-slow", "", reply(text)); ref != "" || err != nil {
				t.Fatalf("Show during the post = %q, %v", ref, err)
			}
		}
		// A redelivered command does not post a second message.
		if _, err := f.Start(ctx, "job-slow", "C-slow", "", reply("queued")); err != ErrNoMessage {
			t.Fatalf("Start during the post = %v, want ErrNoMessage", err)
		}
		// Another job posts and is edited meanwhile.
		if ref, err := f.Show(ctx, "job-fast", "C-fast", "", reply("queued")); ref != "msg-C-fast" || err != nil {
			t.Fatalf("other job's post = %q, %v", ref, err)
		}
		f.Show(ctx, "job-fast", "C-fast", "", reply("running"))
		time.Sleep(time.Second) // fake time: one MinGap
		synctest.Wait()
		// Cleanup runs (past 1024 entries, an hour later) and does not wait.
		time.Sleep(time.Hour)
		for i := range 1100 {
			f.Show(ctx, fmt.Sprintf("job-%d", i), "C-many", "", reply("queued"))
		}
		synctest.Wait()
		if n := f.Len(); n != 1101 { // job-fast forgotten, job-slow (posting) kept
			t.Errorf("%d entries after cleanup, want 1101", n)
		}
		posts, edits := m.state()
		if len(posts) != 1101 || posts[0] != "C-fast: queued" || len(edits) != 1 || edits[0] != "msg-C-fast: running" {
			t.Fatalf("while job-slow hangs: posts %d (first %q), edits %v", len(posts), posts[0], edits)
		}

		release()
		if err := <-posted; err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		_, edits = m.state()
		if last := edits[len(edits)-1]; len(edits) != 2 || last != "msg-C-slow: provisioning" {
			t.Fatalf("after the post: edits %v, want one coalesced edit to the latest state", edits)
		}
		if ref, _ := f.Show(ctx, "job-slow", "", "", reply("running")); ref != "msg-C-slow" {
			t.Errorf("job-slow's reference = %q", ref)
		}
	})
}

// A first post that fails while later updates waited posts the latest of
// them instead, once: the job's last state is not lost with the failed post.
func TestFollowerFailedPostKeepsTheLatestState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newSlowMessenger()
		f := NewFollower(FollowerOptions{Messenger: m})
		ctx := t.Context()
		release := m.block("C1")
		m.fail["C1"] = true
		done := make(chan error, 1)
		go func() {
			_, err := f.Show(ctx, "job-1", "C1", "", reply("queued"))
			done <- err
		}()
		synctest.Wait()
		f.Show(ctx, "job-1", "C1", "", reply("failed: no offer"))
		release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if posts, _ := m.state(); len(posts) != 1 || posts[0] != "C1: failed: no offer" {
			t.Fatalf("posts %v", posts)
		}
	})
}

// Review L2: an edit queued when Run's ctx ends — a job's last state
// written during a shutdown's drain — is still sent before Run returns,
// MinGap respected; one queued after Run returned is sent too (from a
// goroutine of its own), not dropped.
func TestFollowerDrainsEditsOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newSlowMessenger()
		f := NewFollower(FollowerOptions{Messenger: m, MinGap: time.Second, Drain: 5 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		if _, err := f.Start(ctx, "j1", "C1", "", reply("queued")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Show(ctx, "j1", "C1", "", reply("cancelled")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the edit waits out MinGap
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, edits := m.state(); len(edits) != 1 || edits[0] != "msg-C1: cancelled" {
			t.Fatalf("edits when Run returned: %q; want the last state sent", edits)
		}
		if _, err := f.Show(ctx, "j1", "C1", "", reply("cancelled, refunded")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // fake clock: past MinGap
		synctest.Wait()
		if _, edits := m.state(); len(edits) != 2 || edits[1] != "msg-C1: cancelled, refunded" {
			t.Fatalf("edits after Run returned: %q; want the late edit sent", edits)
		}
	})
}

// The drain is bounded: an edit that cannot be sent (the platform hangs)
// does not keep Run from returning longer than Drain.
func TestFollowerDrainIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &hangingEditor{slowMessenger: newSlowMessenger()}
		f := NewFollower(FollowerOptions{Messenger: m, MinGap: time.Millisecond, Drain: 3 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		if _, err := f.Start(ctx, "j1", "C1", "", reply("queued")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Show(ctx, "j1", "C1", "", reply("running")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		start := time.Now()
		cancel()
		<-done
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("Run returned %s after its ctx ended; want the drain bound, 3s", d)
		}
	})
}

// hangingEditor's edits hang until their context ends.
type hangingEditor struct{ *slowMessenger }

func (h *hangingEditor) Edit(ctx context.Context, _ string, _ commands.Reply) error {
	<-ctx.Done()
	return ctx.Err()
}
