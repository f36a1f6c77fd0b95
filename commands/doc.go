// Package commands is clorebot's shared command layer: every front door (Slack,
// Discord, webhooks, the CLI) turns its input into a Request and renders the
// Reply; this package parses the command grammar, checks policy, answers
// help/market/status at once and runs rent and cancel as durable, checkpointed
// jobs keyed by an idempotency key, writes the audit log and emits lifecycle
// events into a durable outbox.
//
// It owns the nouns every layer speaks (orders, jobs, outbox events and
// their typed data, watches, audit rows, outbound deliveries), declares the
// narrow interfaces it consumes (the per-noun stores that Store composes,
// Clore, Notifier, Clock) and imports no front door, no storage and no
// scheduler.
package commands
