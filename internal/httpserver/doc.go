// Package httpserver is the process's HTTP server: one listener with every
// timeout set, liveness (/healthz, /health), readiness (/readyz: named
// probes, a degraded part keeps it ready) and optionally /metrics, a JSON
// 404/405 for what no route takes, and whatever routes the front doors
// contribute (the signed webhooks, Slack's HTTP mode, Discord's HTTP
// interactions), mounted by cmd/clorebot. It imports nothing of the
// project: the doors hand it handlers.
package httpserver
