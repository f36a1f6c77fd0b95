package commands

import (
	"strings"
	"testing"

	"github.com/clorebot/clorebot/clore"
)

// What the renter's `status <order-id>` shows of a running order's
// connection details in every state of what is stored: whole details or
// none, never a host without its port.
func TestStoredDetails(t *testing.T) {
	live := clore.Order{ID: 7, PubCluster: []string{"n1.us.clorecloud.net"}, TCPPorts: []string{"22:1972", "8888:2000"}, HTTPPub: "abc.clorecloud.net"}
	noPort := clore.Order{ID: 7, PubCluster: []string{"n1.us.clorecloud.net"}}
	tests := []struct {
		name     string
		live     clore.Order
		known    bool
		p        rentParams
		platform string
		fields   map[string]string
		text     string // a part of the note; "" for none
	}{
		{name: "password kept", live: live, known: true, p: rentParams{SSHPassword: "PW1"}, platform: PlatformSlack,
			fields: map[string]string{"SSH": "ssh -p 1972 root@n1.us.clorecloud.net", "Password": "PW1", "HTTP": "https://abc.clorecloud.net"}},
		{name: "key", live: live, known: true, p: rentParams{SSHKey: "ssh-ed25519 AAAA x"}, platform: PlatformCLI,
			fields: map[string]string{"SSH": "ssh -p 1972 root@n1.us.clorecloud.net", "Key": "the SSH key you gave", "HTTP": "https://abc.clorecloud.net"}},
		{name: "wiped after 24 h", live: live, known: true, platform: PlatformDiscord,
			fields: map[string]string{"SSH": "ssh -p 1972 root@n1.us.clorecloud.net", "HTTP": "https://abc.clorecloud.net"},
			text:   "The password was removed after 24 h; reset it on the Clore dashboard."},
		{name: "wiped once delivered to a webhook", live: live, known: true, platform: PlatformWebhook,
			fields: map[string]string{"SSH": "ssh -p 1972 root@n1.us.clorecloud.net", "HTTP": "https://abc.clorecloud.net"},
			text:   "delivered to your webhook"},
		{name: "not in the snapshot", p: rentParams{SSHPassword: "PW1"}, platform: PlatformSlack,
			fields: map[string]string{"Password": "PW1"}, text: "SSH host and port are not known yet"},
		{name: "no SSH port published", live: noPort, known: true, p: rentParams{SSHPassword: "PW1"}, platform: PlatformSlack,
			fields: map[string]string{"Password": "PW1"}, text: "Clore has not published an SSH port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pp := storedDetails(7, tt.live, tt.known, tt.p, tt.platform)
			if pp.Title != "Connect to order #7" {
				t.Errorf("title %q", pp.Title)
			}
			got := map[string]string{}
			for _, f := range pp.Fields {
				got[f.Name] = f.Value
			}
			if len(got) != len(tt.fields) {
				t.Errorf("fields %v, want %v", got, tt.fields)
			}
			for k, v := range tt.fields {
				if got[k] != v {
					t.Errorf("field %s = %q, want %q", k, got[k], v)
				}
			}
			if tt.text == "" && pp.Text != "" || !strings.Contains(pp.Text, tt.text) {
				t.Errorf("text %q, want it to hold %q", pp.Text, tt.text)
			}
		})
	}
}
