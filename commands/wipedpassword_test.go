package commands_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/clorebot/clorebot/clore"
	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage/storagetest"
)

type createSpy struct {
	commands.Clore
	mu   sync.Mutex
	reqs []clore.CreateOrderRequest
}

func (c *createSpy) CreateOrder(ctx context.Context, r clore.CreateOrderRequest) error {
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.mu.Unlock()
	return c.Clore.CreateOrder(ctx, r)
}

// Review R6: the "24 h at most" secret sweep removes the generated SSH
// password of every rent job accepted over 24 h ago. A rent that had not
// sent create_order when the process went down for a day is resumed at
// the next start (DESIGN §7): it used to rent with neither a password nor
// a key (billing, nobody able to log in, "Key: the SSH key you gave").
// It now fails, saying why, and sends no create_order — whether it was
// still choosing its offer or about to create the order.
func TestRentResumedAfterADayWithoutCredentialsRentsNothing(t *testing.T) {
	storagetest.Skip(t, "edits the SQLite file directly")
	t.Parallel()
	for _, step := range []string{"queued", "creating"} { // "queued": never run before the outage
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			spy := &createSpy{Clore: h.client}
			ctx := context.Background()
			first := h.service(func(o *commands.Options) {
				o.WorkerID = "worker-1"
				o.AfterCheckpoint = func(j commands.Job) error {
					if j.Step == step {
						return errors.New("simulated kill -9") // the offer is chosen, create_order not sent
					}
					return nil
				}
			})
			r := first.Handle(ctx, req("slack:ALICE", "rent 3090 --hours 1"))
			if r.JobID == "" {
				t.Fatalf("rent = %+v", r)
			}
			if step == "creating" {
				if job, err := first.RunJob(ctx, r.JobID); err == nil || job.Step != "creating" {
					t.Fatalf("first run = %+v, %v; want a crash at creating", job, err)
				}
			}
			db, err := sql.Open("sqlite", "file:"+filepath.Join(h.dir, "clorebot.db")+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// The process was down for 25 h: the job was accepted 25 h ago.
			var created string
			if err := db.QueryRow(`SELECT created_at FROM jobs WHERE id = ?`, r.JobID).Scan(&created); err != nil {
				t.Fatal(err)
			}
			at, err := time.Parse(time.RFC3339Nano, created)
			if err != nil {
				t.Fatalf("created_at %q: %v", created, err)
			}
			if _, err := db.Exec(`UPDATE jobs SET created_at = ? WHERE id = ?`,
				at.Add(-25*time.Hour).UTC().Format("2006-01-02T15:04:05.000000000Z"), r.JobID); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if _, err := h.store.WipeSecrets(ctx, now.Add(-24*time.Hour), now); err != nil {
				t.Fatal(err)
			}
			// The restarted process, past the dead run's lease.
			second := h.service(func(o *commands.Options) {
				o.Clore, o.WorkerID, o.Clock = spy, "worker-2", offsetClock{commands.DefaultLease}
			})
			job, err := second.RunJob(ctx, r.JobID)
			if err != nil {
				t.Fatal(err)
			}
			spy.mu.Lock()
			defer spy.mu.Unlock()
			if len(spy.reqs) != 0 {
				t.Fatalf("create_order sent %d time(s) (first: password %t, key %t); want none", len(spy.reqs),
					spy.reqs[0].SSHPassword != "", spy.reqs[0].SSHKey != "")
			}
			if job.State != commands.JobFailed || job.Error == "" {
				t.Fatalf("job %s %q; want it failed with the reason", job.State, job.Error)
			}
		})
	}
}
