// Package chat holds what the chat front doors (Slack, Discord) share and
// that does not depend on a platform: building a commands.Request from what
// a user typed or clicked, answering within a platform's acknowledgement
// deadline whatever the command layer is doing, choosing which part of a
// Reply goes to the channel and which only to the requester, following a
// job's progress as one message updated in place with coalesced updates,
// and wording lifecycle events for a sink.
//
// It imports only commands; the front doors import it and never each other.
package chat
