// Package sandbox is a simulated Clore.ai public API (shared/clore-api.md):
// an http.Handler with the same endpoints, bodies and error behaviour as
// https://api.clore.ai/v1, used as the demo backend of
// `clorebot serve --sandbox`, as the conformance test double of the clore
// client, and by several clorebot processes at once.
//
// It owns:
//   - a deterministic marketplace generated from Options.Seed: about 2,000
//     servers over about 30 GPU models at realistic per-day prices, with
//     real field shapes (gpu_array entries with a leading space, "Nx NVIDIA
//     GeForce RTX 4090" specs, pcie_rev sometimes a string, stock_oc either
//     "default" or an array, optional fields absent on some servers);
//   - price drift: a price is a pure function of (seed, server, time), so
//     processes sharing a state file agree without storing prices;
//   - background occupancy: each server is "rented by someone else" with a
//     per-server probability that is redrawn every 3 hours (phase-shifted
//     per server), plus a few percent of offline servers;
//   - orders and wallets in a SQLite file (Options.StatePath) read on every
//     request, so separate Server instances and processes see the same
//     orders; create_order checks and writes in one immediate transaction;
//   - per-key rate limits, the `auth` check, fault injection and test hooks;
//   - on demand, what clients of the real API have seen it do
//     (shared/clore-api.md §10): odd historical entries in my_orders
//     (AddOddOrders), a create_order that answers code 1 yet rents
//     (CreateCode1ButRent, CreateCode1ButRentOn), my_orders lagging
//     create_order (LagMyOrders), cancel_order refusing with a code
//     (FailCancels), and spot orders outbid (Outbid).
//
// The API key is stored and recorded only as a sha256 hash; ssh passwords,
// ssh keys, jupyter tokens, env and command are validated and then dropped.
//
// # Order of checks
//
// Every request: Faults.Latency, then an answer queued by InjectNext, then
// Faults.GarbageRate, then `auth` (HTTP 401 {"code":3}), then the endpoint
// (HTTP 404 {"code":4}) and method (HTTP 405 {"code":4}), then the rate
// limit (HTTP 429 {"code":5}), then Faults.ErrorRate (HTTP 500 {"code":1}).
//
// create_order: body and field validation (HTTP 400 code 2),
// server-dont-exist, cant_rent_from_yourself (OwnServer),
// machine-is-on-gigaspot (MoveToGigaspot), currency-not-allowed (HTTP 500),
// server-offline, you_already_have_spot_order (spot), server-already-rented
// (background occupancy, other orders, RentByOther, a lost race with
// probability RaceRate), too_low_price (spot), a required_price that is not
// the current price (HTTP 500 {"code":1}), an env value containing '&'
// (HTTP 500 {"code":1}), then not_enough_balance and server-already-rented
// again inside the transaction.
//
// A create_order that creates an order answers HTTP 500 {"code":1} instead
// of {"code":0} while CreateCode1ButRent is pending.
//
// cancel_order: FailCancels, validation (code 2), issue_description_too_long (over 2048
// characters), order_dont_exist, you_dont_own_this_order, order_not_active
// (the order already ended). set_spot_price: validation (code 2),
// order_dont_exist, you_dont_own_this_order, order_not_active, code 2 for an
// on-demand order, amount_too_low (below the host's minimum),
// can_lower_every_600_seconds, exceeded_max_step. spot_marketplace of an
// unknown server: server-dont-exist.
//
// Every code-6 string is one of Clore's error-codes reference
// (dev.clore.ai/reference/error-codes); the sandbox invents none.
//
// # Assumptions where the real API is unknown
//
//   - Code 2 (invalid input) is answered with HTTP 400, the status of the
//     error-codes reference, and an "error" string saying what is wrong (the
//     real wording is unknown). This covers malformed or non-object JSON,
//     missing or wrong-typed fields (autossh_entrypoint must be a bool), a
//     type other than "on-demand"/"spot", an unknown currency, a missing
//     image, ssh_password or jupyter_token over 32 characters, ssh_key over
//     3072, ports that are not numeric or not "tcp"/"http", more than one
//     "http" port, and spot orders without a positive spotprice.
//   - A wrong method is answered HTTP 405 {"code":4}; an unknown path
//     HTTP 404 {"code":4}. A missing or wrong key is HTTP 401 {"code":3}.
//   - Code-6 answers use HTTP 200 except currency-not-allowed (HTTP 500), as
//     observed; server-already-rented carries "status":"error".
//   - required_price (on-demand only) must equal the current on-demand daily
//     price in the order currency; any other value is an opaque HTTP 500
//     {"code":1} that creates nothing (Clore documents no "price changed").
//   - The rate limit has no tolerance: requests of a key must arrive at least
//     MinInterval apart (create_order CreateInterval).
//   - renter_fees answers the documented rates as percentages (on-demand 10,
//     spot 2.5 in every currency), poh_config {max_reduction_percent 50,
//     max_poh_amount 2,000,000}, the key's Options.PoHBalance and a 0.1 USD
//     creation fee in each currency. Orders are billed at the host's price
//     (the fee is not added to spend).
//   - not_enough_balance when the wallet holds less than the creation fee
//     (0.1 USD in the order currency) plus one hour of the price. Orders do
//     not stop when a balance runs out; it may go negative.
//   - An order's mrl is 604800 s (7 days, as observed) or the server's mrl
//     if shorter; after ct+mrl it is expired and billing stops.
//   - Until ProvisionDelay has passed an order is "online":false with empty
//     pub_cluster, tcp_ports and http_pub (http_port already shows the
//     requested port). Then pub_cluster is ["n<1-4>.<cc>.clorecloud.net"]
//     with <cc> the server's lower-cased country code, tcp_ports maps each
//     requested tcp port (22 when none was requested) to a public port, and
//     http_pub is set only when an "http" port was requested.
//   - Spot orders occupy the server like on-demand ones; nobody outbids
//     them unless a test calls Outbid. An outbid order shows in my_orders as
//     an expired one does ("expired":true, offline, empty pub_cluster and
//     tcp_ports); Clore does not document what it shows. Lowering a bid is limited to 10% of the current bid per step
//     (max_step) and once per 600 s; raising is free; a bid below the
//     host's minimum spot price is too_low_price (create_order) or
//     amount_too_low (set_spot_price).
//   - Other users' spot offers are synthesised per time window.
//   - OwnServer, MoveToGigaspot, AddOddOrders, CreateCode1ButRent,
//     LagMyOrders and FailCancels are kept in memory per Server, like the
//     rate limit (an order hidden by a lag is hidden only from this
//     Server's my_orders); my_servers lists the servers marked with
//     OwnServer. Outbid is stored and seen by every Server on the file.
//   - The object form of an old order's tcp_ports (AddOddOrders) maps the
//     container port to the public port, {"22":"40123"}: no capture of it
//     was found.
//   - my_orders lists orders oldest first; "spot":true and "expired":true
//     appear only when true.
//   - price.usd.spot is the USD value of the minimum spot price (the real
//     API showed 0). Servers priced only in bitcoin/CLORE have no
//     on_demand_usd; about 4% have a USD price but do not accept
//     USD-Blockchain, as observed live.
//   - Wallet deposit addresses are derived from the key hash; the
//     USD-Blockchain one looks like an EVM address (real format unknown).
//     Withdrawal fees are fixed: 0.0001 BTC, 10 CLORE, 1 USD.
//   - Exchange rates are fixed: 1 BTC = 64063.5 USD, 1 CLORE = 0.0012497 USD.
//   - A DriftPerHour of 0 means static prices; DefaultDriftPerHour (0.02) is
//     the value meant for demos. Latency is real time even with a fake clock.
//   - The rate limit is kept in memory per Server: processes sharing a state
//     file do not share it (the real limit is per key, server-side).
package sandbox
