package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// A request's callback_url is chosen by whoever holds a webhook key, and
// clorebot POSTs to it for days: it must not become a way into the
// networks clorebot can reach and the caller cannot (DESIGN.md §5). Unless
// webhook.callback_allow_private is set, a callback may reach public
// addresses only: a literal host is checked at intake (400), and every
// connection of a callback delivery is checked again after DNS resolution,
// in the dialer, so a name that resolves (or is rebound) to a private
// address is refused too. What the operator configured (subscribers, notify
// URLs, `deliveries test URL`) is not limited.

// nonPublicNets are the ranges a callback may not reach.
var nonPublicNets = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",      // "this network"
		"10.0.0.0/8",     // RFC 1918
		"100.64.0.0/10",  // CGNAT; holds some clouds' metadata
		"127.0.0.0/8",    // loopback
		"169.254.0.0/16", // link-local, cloud metadata
		"172.16.0.0/12",  // RFC 1918
		"192.0.0.0/24",   // IETF protocol assignments
		"192.88.99.0/24", // 6to4 relay anycast (deprecated)
		"192.168.0.0/16", // RFC 1918
		"198.18.0.0/15",  // benchmarking
		"224.0.0.0/3",    // multicast, reserved and broadcast: 224/4 and above
		"::/128",         // unspecified
		"::1/128",        // loopback
		"100::/64",       // discard-only
		"2001::/32",      // Teredo: tunnels to an IPv4 address
		"fc00::/7",       // unique local
		"fe80::/10",      // link-local
		"fec0::/10",      // site-local (deprecated, still routed on some LANs)
		"ff00::/8",       // multicast
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// IPv6 prefixes that carry an IPv4 address in their low bits (or, for
// 6to4, in bits 16–48): such an address reaches what the IPv4 one does.
var (
	nat64Prefix      = netip.MustParsePrefix("64:ff9b::/96")
	nat64LocalPrefix = netip.MustParsePrefix("64:ff9b:1::/48")
	compatPrefix     = netip.MustParsePrefix("::/96") // deprecated IPv4-compatible
	sixToFourPrefix  = netip.MustParsePrefix("2002::/16")
)

// NonPublic reports whether addr is in a range a callback may not reach:
// loopback, private, CGNAT, link-local and metadata, unique local,
// multicast, unspecified and reserved, and the IPv4-mapped, IPv4-compatible,
// NAT64 and 6to4 forms of those.
func NonPublic(addr netip.Addr) bool {
	addr = addr.WithZone("")
	if !addr.IsValid() {
		return true
	}
	if addr.Is4In6() {
		return NonPublic(addr.Unmap())
	}
	for _, p := range nonPublicNets {
		if p.Contains(addr) {
			return true
		}
	}
	if v4, ok := embeddedIPv4(addr); ok {
		return NonPublic(v4)
	}
	return false
}

// embeddedIPv4 returns the IPv4 address an IPv6 address of a translation
// prefix stands for.
func embeddedIPv4(addr netip.Addr) (netip.Addr, bool) {
	if !addr.Is6() {
		return netip.Addr{}, false
	}
	b := addr.As16()
	switch {
	case nat64Prefix.Contains(addr), nat64LocalPrefix.Contains(addr), compatPrefix.Contains(addr):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFourPrefix.Contains(addr):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// errNonPublic is a callback connection refused after resolution.
var errNonPublic = errors.New("webhook: callback_url resolves to a non-public address")

// allowPrivateHint says how to lift the restriction.
const allowPrivateHint = "set webhook.callback_allow_private = true to allow it"

// callbackHostProblem says why a callback_url's host is refused at intake,
// "" when it may be tried: a literal non-public address, a localhost name,
// or a number that resolvers read as an IPv4 address (2130706433,
// 0x7f.1, 127.1) without its being one.
func callbackHostProblem(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "not a URL"
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if addr, err := netip.ParseAddr(host); err == nil {
		if NonPublic(addr) {
			return fmt.Sprintf("%s is a non-public address (loopback, private, link-local, metadata or reserved); %s", addr, allowPrivateHint)
		}
		return ""
	}
	switch {
	case host == "localhost" || strings.HasSuffix(host, ".localhost"):
		return fmt.Sprintf("%s is the local host; %s", quote(host), allowPrivateHint)
	case looksNumeric(host):
		return fmt.Sprintf("%s is not a canonical IP address; write an address such as 203.0.113.5, or a name", quote(host))
	}
	return ""
}

// looksNumeric reports whether every dot-separated label of host (lower
// case) is a decimal, octal or hex number: resolvers such as inet_aton read
// those as an IPv4 address.
func looksNumeric(host string) bool {
	for label := range strings.SplitSeq(host, ".") {
		if h, ok := strings.CutPrefix(label, "0x"); ok {
			if strings.Trim(h, "0123456789abcdef") != "" {
				return false
			}
			continue
		}
		if label == "" || strings.Trim(label, "0123456789") != "" {
			return false
		}
	}
	return host != ""
}

// guardControl is a net.Dialer Control function that refuses a connection
// to a non-public address. It runs after resolution, for every address
// tried, so DNS rebinding cannot get around it.
func guardControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read %q", errNonPublic, address)
	}
	if NonPublic(ap.Addr()) {
		return fmt.Errorf("%w %s; %s", errNonPublic, ap.Addr(), allowPrivateHint)
	}
	return nil
}

// newCallbackClient returns the client of callback deliveries: no proxy
// (a proxy would resolve the name where the guard cannot see it), every
// connection through a dialer that refuses non-public addresses.
func newCallbackClient(timeout time.Duration, resolver *net.Resolver) *http.Client {
	return &http.Client{Timeout: timeout, Transport: newTransport(timeout, resolver, guardControl)}
}

// newTransport is http.DefaultTransport's configuration without a proxy,
// dialing through resolver (nil: the default) and control (nil: none).
func newTransport(timeout time.Duration, resolver *net.Resolver, control func(network, address string, c syscall.RawConn) error) *http.Transport {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Resolver: resolver, Control: control}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = dialer.DialContext
	return tr
}
