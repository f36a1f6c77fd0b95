// Package clore is clorebot's client for the Clore.ai public REST API.
//
// It owns the wire types (decoded leniently: Clore's fields change shape between
// hosts and API versions), the error taxonomy (Clore answers errors in a `code`
// envelope whatever the HTTP status), the rate limiter that every call of one API
// key goes through (1 request/s, one create_order per 5 s, user-initiated calls
// before background polling), retries with backoff for calls that are safe to
// repeat, and offer normalisation: canonical GPU model names and USD per hour
// from Clore's per-day, per-server, multi-currency prices.
//
// The package imports nothing else of clorebot. Callers that want the limiter's
// state shared between processes pass a SlotStore (storage.Store is one).
package clore
