package webhook

import (
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/commands"
)

func TestNonPublic(t *testing.T) {
	for _, s := range []string{
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "100.64.0.1", "100.127.255.254", "127.0.0.1", "127.255.255.255",
		"169.254.169.254", "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.168.0.1", "198.18.0.1", "198.19.255.255",
		"224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
		"::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::127.0.0.1",
		"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1", "2002:7f00:1::1", "2002:a9fe:a9fe::",
		"fec0::1", "feff::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.88.99.1", "100::1",
	} {
		if !NonPublic(netip.MustParseAddr(s)) {
			t.Errorf("NonPublic(%s) = false", s)
		}
	}
	for _, s := range []string{
		"1.1.1.1", "8.8.8.8", "203.0.113.5", "100.63.255.255", "100.128.0.1", "172.32.0.1", "192.0.1.1", "198.20.0.1",
		"223.255.255.255", "2001:db8::1", "2001:1::1", "192.88.100.1", "100:0:0:1::1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	} {
		if NonPublic(netip.MustParseAddr(s)) {
			t.Errorf("NonPublic(%s) = true", s)
		}
	}
}

// fakeDNS answers every A query with one address, and AAAA with none: a
// name that resolves to 127.0.0.1, as DNS rebinding would make it.
func fakeDNS(t *testing.T, answer netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], answer); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

// dnsAnswer builds the response to a one-question query.
func dnsAnswer(q []byte, answer netip.Addr) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]
	resp := append([]byte{}, q[:2]...)
	resp = append(resp, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0)
	resp = append(resp, question...)
	if qtype == 1 { // A
		resp[7] = 1
		a := answer.As4()
		resp = append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		resp = append(resp, a[:]...)
	}
	return resp
}

// A callback_url stored earlier (or a name that resolves, or is rebound, to
// a private address) is refused at dial time and dead-lettered, never sent;
// subscribers, which the operator configured, are not limited.
func TestCallbackToNonPublicAddressIsRefusedAtDialTime(t *testing.T) {
	_, key := dlSecret(t)
	rc := newDLReceiver(t, always(http.StatusOK))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rc.URL, "http://"))
	resolver := fakeDNS(t, netip.MustParseAddr("127.0.0.1"))
	tests := []struct {
		name, url    string
		allowPrivate bool
		sent         bool
	}{
		{"loopback literal", rc.URL + "/cb", false, false},
		{"IPv6 loopback", "http://[::1]:" + port + "/cb", false, false},
		{"IPv4-mapped loopback", "http://[::ffff:127.0.0.1]:" + port + "/cb", false, false},
		{"metadata", "http://169.254.169.254/latest/meta-data/", false, false},
		{"RFC 1918", "http://10.255.255.1:" + port + "/cb", false, false},
		{"CGNAT", "http://100.100.100.200/", false, false},
		{"unspecified", "http://0.0.0.0:" + port + "/cb", false, false},
		{"name resolving to 127.0.0.1", "http://rebind.attacker.test:" + port + "/cb", false, false},
		{"same name, private allowed", "http://rebind.attacker.test:" + port + "/cb", true, true},
		{"loopback, private allowed", rc.URL + "/cb", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rc.requests())
			r := newDLRig(t, DispatcherOptions{KeySecrets: map[string][]byte{"ci": key},
				CallbackAllowPrivate: tt.allowPrivate, Resolver: resolver, Timeout: 2e9})
			r.store.jobs["j"] = commands.Job{ID: "j", Platform: commands.PlatformWebhook, RequestedBy: "webhook:ci", ReplyTarget: tt.url}
			r.emit("job.completed", "j", `{}`)
			r.tick(t)
			if sent := len(rc.requests()) > before; sent != tt.sent {
				t.Fatalf("sent = %v, want %v", sent, tt.sent)
			}
			ds := r.store.all()
			if len(ds) != 1 {
				t.Fatalf("%d deliveries", len(ds))
			}
			if !tt.sent && (ds[0].State != commands.DeliveryDead || !strings.Contains(ds[0].LastError, "non-public address")) {
				t.Fatalf("delivery %s %q; want dead-lettered naming the non-public address", ds[0].State, ds[0].LastError)
			}
		})
	}
	// A subscriber on loopback is the operator's choice: delivered.
	r := newDLRig(t, DispatcherOptions{Subscribers: []Subscriber{{URL: rc.URL + "/sub", Secret: key}}, Resolver: resolver})
	r.emit("order.running", "", `{}`)
	r.tick(t)
	if ds := r.store.all(); len(ds) != 1 || ds[0].State != commands.DeliveryDelivered {
		t.Fatalf("subscriber on loopback: %+v", ds)
	}
}

func TestCallbackHostProblem(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1/", "http://[::1]:8080/", "http://localhost:9/", "http://api.localhost/", "http://LOCALHOST./",
		"http://2130706433/", "http://0x7f.1/", "http://127.1/", "http://017700000001/", "http://0x7f000001/",
		"http://[fe80::1%25eth0]/", "http://[64:ff9b::a9fe:a9fe]/", "https://169.254.169.254/",
	} {
		if callbackHostProblem(u) == "" {
			t.Errorf("%s accepted", u)
		}
	}
	for _, u := range []string{"https://hooks.example.com/x", "http://203.0.113.5:8080/", "https://[2606:4700::1]/", "https://1password.example/"} {
		if p := callbackHostProblem(u); p != "" {
			t.Errorf("%s refused: %s", u, p)
		}
	}
}
