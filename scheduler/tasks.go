package scheduler

import (
	"errors"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// The task names of the process's periodic work (Table): what RunNow and
// Kick name, and what the log's "task" attribute says.
const (
	TaskWatchTick    = "watch-tick"
	TaskDeliveries   = "webhook-deliveries"
	TaskOutbox       = "outbox-sinks"
	TaskDedupPurge   = "webhook-dedup-purge"
	TaskJobSweep     = "job-sweep"
	TaskEarlyRefresh = "market-refresh-early"
	TaskSnapshotSave = "snapshot-save"
	TaskServeBeat    = "serve-heartbeat"
	TaskRequestPurge = "request-records-purge"
	TaskTargetWipe   = "reply-targets-wipe"
	TaskDigest       = "spend-digest"
	TaskDigestRetry  = "spend-digest-retry"
	TaskFollowerTick = "follower-refresh"
)

// The intervals of the periodic work.
const (
	// DeliveryTick is how often outbound webhook deliveries and the outbox
	// are looked for: events go out within about a second of being written.
	DeliveryTick = time.Second
	// DedupPurgeTick is how often expired webhook dedup records, request
	// records and chat replay records are deleted.
	DedupPurgeTick = time.Hour
	// SweepTick is how often the job sweep looks for jobs whose lease
	// lapsed and rents whose confirmation ran out: with commands'
	// DefaultLease, a crashed process's job resumes within 10 s of the
	// next start.
	SweepTick = commands.DefaultSweepInterval
	// SnapshotSaveTick is how often the snapshots published since the last
	// save are stored for the next start.
	SnapshotSaveTick = 30 * time.Second
	// ServeBeat is how often a running serve renews its row in
	// serve_processes.
	ServeBeat = 5 * time.Second
	// TargetWipeTick is how often expired reply-target parts (Slack
	// response_urls, Discord interaction tokens) are wiped.
	TargetWipeTick = time.Minute
	// DigestRetryTick is how often a digest recorded but not posted (a
	// crash in between, a chat outage) is looked for.
	DigestRetryTick = time.Minute
)

// Table is the process's periodic work, one field per task: the caller
// fills in the functions (the command layer's services, storage's purges)
// and Register puts each task that is set on a Scheduler under its name and
// interval. A nil task is not registered: `clorebot exec`, a one-shot
// process, sets only what it needs.
type Table struct {
	// WatchTick is the tick of DESIGN.md §7 (marketplace refresh, watches,
	// order lifecycle, wallet check), every WatchInterval. Leader-only.
	WatchTick     Task
	WatchInterval time.Duration
	// FollowerTick keeps a follower's snapshots fresh (the marketplace and
	// my_orders the leader's watch tick refreshes for the leader), every
	// WatchInterval, only while this process does not lead: requests and
	// rents in a follower answer from its own snapshots (DESIGN.md §8).
	FollowerTick Task
	// Deliveries and Outbox send the events written (webhook deliveries,
	// chat sinks), every DeliveryTick.
	Deliveries Task
	Outbox     Task
	// JobSweep expires unconfirmed rents and hands lapsed jobs to the
	// workers, every SweepTick.
	JobSweep Task
	// EarlyRefresh is the on-demand marketplace refresh a request asks for
	// (RunNow, Kick).
	EarlyRefresh Task
	// SnapshotSave stores the snapshots for the next start.
	SnapshotSave Task
	// ServeBeat renews the process's row in serve_processes.
	ServeBeat Task
	// DedupPurge, RequestPurge and TargetWipe are housekeeping.
	DedupPurge   Task
	RequestPurge Task
	TargetWipe   Task
	// Digest posts the spend digest at the times DigestSchedule (a cron
	// expression, report.schedule) names, and DigestRetry posts one
	// recorded but not posted; both only when DigestSchedule is set, both
	// leader-only.
	Digest         SlotTask
	DigestSchedule string
	DigestRetry    Task
}

// Roles says which of the processes on one database run each task
// (DESIGN.md §8): the leader alone runs the watch tick (marketplace,
// watches, the order lifecycle and TTL cancels) and the digest; the
// follower refreshes its own snapshots; every other task runs in every
// process, on state the database shares (leases, cursors, dedup records).
var Roles = map[string]Role{
	TaskWatchTick:    LeaderOnly,
	TaskDigest:       LeaderOnly,
	TaskDigestRetry:  LeaderOnly,
	TaskFollowerTick: FollowerOnly,
}

// Register registers every task of t that is set on s, each under its role
// (Roles).
func (t Table) Register(s *Scheduler) error {
	var errs []error
	every := func(name string, interval time.Duration, task Task) {
		if task != nil {
			errs = append(errs, s.EveryAs(name, Roles[name], interval, task))
		}
	}
	every(TaskWatchTick, t.WatchInterval, t.WatchTick)
	every(TaskFollowerTick, t.WatchInterval, t.FollowerTick)
	every(TaskDeliveries, DeliveryTick, t.Deliveries)
	every(TaskOutbox, DeliveryTick, t.Outbox)
	every(TaskDedupPurge, DedupPurgeTick, t.DedupPurge)
	every(TaskJobSweep, SweepTick, t.JobSweep)
	if t.EarlyRefresh != nil {
		errs = append(errs, s.OnDemand(TaskEarlyRefresh, t.EarlyRefresh))
	}
	every(TaskSnapshotSave, SnapshotSaveTick, t.SnapshotSave)
	every(TaskServeBeat, ServeBeat, t.ServeBeat)
	every(TaskRequestPurge, DedupPurgeTick, t.RequestPurge)
	every(TaskTargetWipe, TargetWipeTick, t.TargetWipe)
	if t.DigestSchedule != "" {
		if t.Digest != nil {
			errs = append(errs, s.CronAs(TaskDigest, Roles[TaskDigest], t.DigestSchedule, t.Digest))
		}
		every(TaskDigestRetry, DigestRetryTick, t.DigestRetry)
	}
	return errors.Join(errs...)
}
