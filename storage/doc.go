// Package storage owns clorebot's durable state behind one API on two
// backends: a SQLite file opened through modernc.org/sqlite (no cgo), the
// default, or a PostgreSQL database (storage.url) opened through pgx's
// database/sql driver; its schema and every query against it.
//
// # Connections
//
// A [Store] holds two pools on the same database. The writer pool has
// exactly one connection and runs every write transaction; the reader pool
// has a few read-only connections.
//
// On SQLite every write transaction is BEGIN IMMEDIATE, so writers in this
// process queue in Go and writers in other processes queue on SQLite's busy
// timeout instead of failing with SQLITE_BUSY halfway through a
// transaction. Readers are query-only and see committed data through WAL
// without blocking the writer. Pragmas are set in the DSN, so every
// connection of both pools gets them: busy_timeout(5000) first, then
// journal_mode(WAL), foreign_keys(1) and synchronous(NORMAL).
//
// On PostgreSQL ([OpenPostgres], or [Open] and [OpenConfig] given a
// postgres:// URL) the same SQL text runs on both: queries are written with
// SQLite's '?' and '?N' placeholders, which a thin wrapper around pgx's
// driver rewrites to '$N' once per text (pgdriver.go), dropping SQLite's
// INDEXED BY hints; where the engines truly differ (JSON, time arithmetic,
// string functions) a statement has two spellings ([Store.sq]). The write
// lock: every write transaction takes pg_advisory_xact_lock(writeLockKey)
// right after BEGIN (READ COMMITTED), and a write outside a transaction
// runs in one that does, so write transactions from every process on the
// database run one after the other exactly as SQLite's single writer runs
// them, and every invariant argued for SQLite (a guardrail's count and the
// insert it admits, one job per idempotency key, a rate slot's read and its
// update, one lease) holds across processes. [Store.ClaimJob] locks the
// job's row FOR UPDATE SKIP LOCKED as well. Readers connect with
// default_transaction_read_only. A unique violation (SQLSTATE 23505) is
// [ErrConflict], as SQLite's constraint errors are.
//
// SQLite-only upkeep does nothing on PostgreSQL: no checkpoints (the
// background PASSIVE one, the TRUNCATE after a password wipe), no file
// modes, no secure_delete; a wiped password's old row version stays in the
// server's heap until VACUUM reuses the space, and in its WAL and backups
// as the operator keeps them (docs/postgresql.md).
//
// # Clock
//
// [Store.Now] is the clock for every time the store records itself. On
// SQLite it is time.Now. On PostgreSQL it follows the database server's
// clock: the offset to clock_timestamp() is measured at open and every 30 s
// on a reader, outside any transaction (clock.go), so that processes on
// hosts whose clocks disagree agree on the time. Leases and rate slots
// take their callers' host times; on PostgreSQL they are moved onto the
// server's clock by that offset, and a rate slot is padded by the
// measurement's error bound. An injected Now (tests) wins and turns that
// off.
//
// # Schema
//
// The schema is one list of numbered migrations embedded from migrations/
// (NNNN_name.sql for SQLite, NNNN_name.pg.sql for PostgreSQL).
// [Store.Migrate] applies the pending ones, each in its own transaction
// together with its row in schema_migrations. PostgreSQL begins at
// pgBaseline (0026): its file creates the whole schema of that version
// (text columns COLLATE "C", the guardrail counters' triggers in PL/pgSQL),
// and a fresh database records it with every version folded into it. Every
// later version needs both files (a test fails otherwise). [Open] never changes
// the schema, but it refuses a database whose recorded version is higher than
// the newest migration this build knows ([ErrSchemaTooNew]): an older binary
// must not write into a schema it does not understand.
//
// # Times
//
// Every time is stored in UTC as TEXT in a fixed-width RFC 3339 layout with
// nanoseconds ("2006-01-02T15:04:05.000000000Z"), so that text order is time
// order and indexes on time columns work (on PostgreSQL too: text collates
// "C", byte order). The one exception is
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
//     in id order by [Store.ListEvents]. Ids are AUTOINCREMENT (on
//     PostgreSQL an identity, drawn under the write lock) and assigned in
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
