package sandbox

import (
	"encoding/json"
	"testing"
)

func FuzzDecodeCreateOrder(f *testing.F) {
	f.Add([]byte(`{"currency":"USD-Blockchain","image":"x/y:1","renting_server":100890,"type":"on-demand","ports":{"22":"tcp","8080":"http"},"ssh_password":"GvTestPass123A1"}`))
	f.Add([]byte(`{"renting_server":6,"type":"spot","spotprice":0.000001,"currency":"bitcoin","image":"i","env":{"X":"y"}}`))
	f.Add([]byte(`{"renting_server":1.5}`))
	f.Add([]byte(`{"ports":{"0":"http","1":"http"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, msg := decodeCreateOrder(body)
		if msg != "" {
			return
		}
		if req.RentingServer == nil || req.Image == "" || (req.Type != "on-demand" && req.Type != "spot") {
			t.Fatalf("accepted invalid request %s", body)
		}
		ports, _, pmsg := parsePorts(req.Ports)
		if pmsg != "" {
			t.Fatalf("ports accepted by decode, rejected by parsePorts: %s", pmsg)
		}
		if _, err := json.Marshal(ports); err != nil {
			t.Fatal(err)
		}
	})
}
