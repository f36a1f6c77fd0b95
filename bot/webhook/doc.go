// Package webhook owns clorebot's HTTP listener: liveness, readiness and
// metrics now; the signed inbound webhooks and outbound lifecycle deliveries
// build on it.
package webhook
