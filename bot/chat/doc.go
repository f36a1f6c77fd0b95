// Package chat holds the front-door contract and what the chat front doors
// (Slack, Discord) share that does not depend on a platform.
//
// The contract (door.go): Door, the interface every front door implements,
// and the capabilities the process finds by type assertion (a notifier, a
// sink, HTTP routes, readiness checks, a role source); Notifiers, which
// hands each job update to the door that owns its target; Deps, what the
// process builds a chat door with. The conformance suite every door passes
// is chattest.
//
// Shared chat logic: building a commands.Request from what a user typed or
// clicked, answering within a platform's acknowledgement deadline whatever
// the command layer is doing, choosing which part of a Reply goes to the
// channel and which only to the requester, following a job's progress as
// one message updated in place with coalesced updates, and wording
// lifecycle events for a sink.
//
// It imports only commands; the front doors import it and never each other.
package chat
