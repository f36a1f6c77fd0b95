// Package storage owns clorebot's durable state: one SQLite file opened through
// modernc.org/sqlite (no cgo), its schema and every query against it.
//
// # Connections
//
// A [Store] holds two pools on the same file. The writer pool has exactly one
// connection and runs every write transaction as BEGIN IMMEDIATE, so writers in
// this process queue in Go and writers in other processes queue on SQLite's
// busy timeout instead of failing with SQLITE_BUSY halfway through a
// transaction. The reader pool has a few query-only connections that see
// committed data through WAL without blocking the writer. Pragmas are set in
// the DSN, so every connection of both pools gets them: busy_timeout(5000)
// first, then journal_mode(WAL), foreign_keys(1) and synchronous(NORMAL).
//
// # Schema
//
// The schema is a list of numbered migrations embedded from migrations/
// (NNNN_name.sql). [Store.Migrate] applies the pending ones, each in its own
// transaction together with its row in schema_migrations. [Open] never changes
// the schema, but it refuses a database whose recorded version is higher than
// the newest migration this build knows ([ErrSchemaTooNew]): an older binary
// must not write into a schema it does not understand.
//
// # Times
//
// Every time is stored in UTC as TEXT in a fixed-width RFC 3339 layout with
// nanoseconds ("2006-01-02T15:04:05.000000000Z"), so that text order is time
// order and indexes on time columns work. The one exception is
// clore_rate_slots.next_at, an INTEGER of Unix nanoseconds, because the rate
// limiter compares and adds to it. Times read back are always in UTC.
// [Store.Now] is the clock used for created/updated/audit times; tests replace
// it.
//
// # Tables
//
//   - orders: clorebot's record of every Clore order it created or knows about;
//     job_id links an order to the job that created it.
//   - audit: one row per command handled, with its outcome; never secrets.
//   - clore_rate_slots: the Clore client's rate-limiter state, shared by every
//     clorebot process on the same database (see [Store.ReserveSlot]).
//   - jobs: durable rent and cancel jobs, unique by idempotency key, with
//     their checkpoint and a worker lease (lease_owner, lease_until) taken
//     with [Store.ClaimJob]; JSON columns (params, checkpoint, result) are
//     NULL when empty.
//   - outbox: lifecycle events, appended in the same transaction as the state
//     change that emits them ([Store.SaveJob], [Store.UpdateOrder]) and read
//     in id order by [Store.ListEvents]. Ids are AUTOINCREMENT and assigned in
//     commit order, so a sink's "after id" cursor never misses one. An
//     event's job id must name an existing job.
//   - watches: standing price watches.
//   - snapshots: the last marketplace and my_orders answers the command
//     layer published, one row per kind, in its own encoding
//     ([Store.SaveSnapshot], [Store.LoadSnapshot]): a restart answers from
//     them while its first refresh loads.
//   - serve_processes: the `clorebot serve` processes alive on the file,
//     each renewing its row ([Store.BeatServe], [Store.LiveServes]).
//   - guard_usage, guard_accepted: what the guardrails count (active orders
//     and spend per requester and for the team; rent jobs accepted per
//     requester and minute), kept by triggers on jobs and orders in the
//     transaction that changes them (0020_guard_counters.sql), so that a
//     check reads a few rows however many jobs are queued.
//   - rent_attempts: every create_order a rent job sent, watched 15 minutes
//     for an order Clore shows late ([Store.OpenRentAttempts]).
//   - server_claims: servers rent jobs hold until their create_order answers,
//     and servers found taken ([Store.ServerClaims]).
//
// # Command layer
//
// The command layer (package commands) owns the domain types and declares the
// Store interface it consumes; *Store implements [commands.Store]. Order,
// OrderFilter, AuditEntry and AuditFilter here are aliases of the commands
// types, and [ErrNotFound], [ErrConflict] and [ErrLeased] are the commands
// errors themselves, so errors.Is matches either name.
//
// Every public method is one transaction. Missing rows are reported as
// [ErrNotFound] and unique-key collisions as [ErrConflict]; both are matched
// with errors.Is.
package storage
