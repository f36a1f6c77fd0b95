package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/clorebot/clorebot/internal/contract"
)

// `deliveries test` sends a test.ping that the reference library verifies,
// and reports each receiver's status and latency; a failing or unreachable
// receiver makes it exit 1.
func TestDeliveriesTestPing(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("ping-subscriber-secret"))
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var pings []map[string]any
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("reference verification: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var v map[string]any
		_ = json.Unmarshal(body, &v)
		pings = append(pings, v)
	}))
	defer good.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer bad.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	dir := t.TempDir()
	conf := fmt.Sprintf(`[[webhook.subscribers]]
name = "ops"
url = %q
secret = %q
events = ["order.running"]

[[webhook.subscribers]]
name = "flaky"
url = %q
secret = %q

[[webhook.subscribers]]
url = %q
secret = %q
`, good.URL+"/hook", secret, bad.URL, secret, "http://user:hunter2@"+strings.TrimPrefix(gone.URL, "http://")+"/x", secret)
	if err := os.WriteFile(filepath.Join(dir, "clorebot.toml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, dir, nil, "deliveries", "test", "--subscriber", "ops")
	if code != 0 || !strings.Contains(out, "ops") || !strings.Contains(out, "HTTP 200 ok") || !strings.Contains(out, "ms") {
		t.Fatalf("test ops: %d\n%s\n%s", code, out, stderr)
	}
	if len(pings) != 1 || pings[0]["type"] != "test.ping" {
		t.Fatalf("receiver got %v", pings)
	}
	code, out, stderr = run(t, dir, nil, "deliveries", "test", "--json")
	if code != exitFailure || !strings.Contains(stderr, "did not answer 2xx") {
		t.Fatalf("test all: %d\n%s\n%s", code, out, stderr)
	}
	contract.LoadSchemas(t).ValidateLines(t, "ping.json", out)
	var rows []pingJSON
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var r pingJSON
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 3 || !rows[0].OK || rows[1].OK || rows[1].Status == nil || *rows[1].Status != 500 || rows[2].OK || rows[2].Error == nil || rows[2].Subscriber != "#3" {
		t.Fatalf("rows = %+v", rows)
	}
	if strings.Contains(out+stderr, "hunter2") {
		t.Error("a URL's password was printed")
	}
	if code, _, stderr := run(t, dir, nil, "deliveries", "test", "--subscriber", "nobody"); code != exitUsage || !strings.Contains(stderr, "ops, flaky, #3") {
		t.Fatalf("unknown subscriber: %d %s", code, stderr)
	}
}
