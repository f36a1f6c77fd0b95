// Package webhook is the signed-webhook front door. Door is the door as
// the process runs it (the front-door contract of bot/chat, implemented
// without importing it): the /webhook/* routes it hands the process's HTTP
// server (internal/httpserver), the notifier of a webhook rent's
// connection details, and the outbound deliveries' sink.
//
// The inbound API (API) serves the /webhook/* routes of DESIGN.md §5:
// Standard Webhooks signatures (and, when configured, the legacy scheme
// on the original POST routes), each webhook-id claimed once and bound to
// its method and path, answers of seen ids replayed, rate limits per key
// and per remote address (failed authentication counted per address),
// strict JSON decoding into commands.Request, callback_url checks against
// private addresses, and every check that needs no call to Clore made
// before the 202.
//
// Outbound, the Dispatcher delivers lifecycle events and answers from the
// durable queue, with the Standard Webhooks retry schedule and a
// dead-letter state, to subscribers (signed with their secret), to a
// request's callback_url (signed with the key that sent it) and to
// incoming-webhook URLs of Slack and Discord (unsigned: the URL is the
// credential); CallbackNotifier hands a webhook rent's connection details
// to its requester alone. It imports commands and internal/whsec, and no
// other front door.
package webhook
