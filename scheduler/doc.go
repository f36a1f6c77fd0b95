// Package scheduler owns clorebot's periodic work: one gocron v2 scheduler,
// started and stopped by `clorebot serve`, that runs every background task
// of the process — the watch tick (marketplace refresh, price watches, order
// lifecycle, TTLs), outbound webhook deliveries and the chat sinks, the job
// sweep, the early marketplace refresh (on demand: RunNow, Kick) and
// housekeeping such as the webhook dedup purge.
//
// Every task runs in singleton mode: a run still going when the next is due
// makes that next run skip (it is rescheduled, never queued), so a slow
// Clore never piles up ticks, and after a pause or a restart a task runs
// once, not once per missed interval. Asking for a run (RunNow) while one
// goes makes exactly one more run right after it, so what the caller wrote
// before asking is never left for the next interval. Tasks receive a
// context that ends when the scheduler stops; Stop waits for running tasks
// to return.
//
// The task table is here (Table, tasks.go): every task's name and interval.
// The package knows no front door and no storage: cmd/clorebot fills the
// table in with plain functions (the command layer's services, storage's
// purges) and registers it; `clorebot serve` sets every task, `clorebot
// exec` only the early refresh. The command layer has no timer of its own:
// its job workers (commands.Service.Run) run what Sweep and Handle hand
// them.
//
// Two processes on one PostgreSQL database (DESIGN.md §8) elect a leader
// (Options.Elector, storage.Leader): each task has a Role (Roles). The
// leader-only tasks (the watch tick with the order lifecycle and TTL
// cancels, the digest) sit on a second gocron scheduler under gocron's
// distributed elector, run under the term's context (it ends the moment
// leadership does) and run at once when a term begins; follower-only tasks
// (the follower's own snapshot refresh) run while the process does not
// lead; every other task runs in both. Without an elector (SQLite, one
// process) the process always leads.
package scheduler
