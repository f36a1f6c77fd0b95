// Package metrics holds clorebot's Prometheus instruments on a registry of
// its own (no global state) and adapts them to the observer interfaces of
// the packages that measure: Clore calls, limiter waits and undecodable
// entries (clore.Observer), outbound webhook deliveries and dead letters
// (the webhook door's DeliveryObserver, matched in cmd/clorebot), and
// inbound HTTP requests by route pattern (a middleware). Jobs, active
// orders and the team's spend are read from the database at each scrape
// (WatchState), so the figures hold across restarts and count what other
// processes on the same database did. It also serves /metrics and the
// build info series. It imports clore only.
package metrics
