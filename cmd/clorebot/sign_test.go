package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/webhook"
)

var signTestSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("sign-test-secret-bytes-0123"))

// signEnv writes a configuration with two webhook keys and returns an env
// that loads it, and the directory.
func signEnv(t *testing.T) (*env, *bytes.Buffer, *bytes.Buffer, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := `[http]
listen = "127.0.0.1:9090"

[[webhook.keys]]
name = "zapier"
secret = "` + signTestSecret + `"
roles = ["renter"]

[[webhook.keys]]
name = "cron"
secret = "plain-cron-secret"
`
	path := filepath.Join(dir, "clorebot.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	e := &env{ctx: context.Background(), cli: &cli{Config: path, Sandbox: true}, stdout: &stdout, stderr: &stderr}
	return e, &stdout, &stderr, dir
}

// printedHeaders reads the header lines printed before the blank line.
func printedHeaders(t *testing.T, out string) (http.Header, string) {
	t.Helper()
	head, curl, ok := strings.Cut(out, "\n\n")
	if !ok {
		t.Fatalf("no blank line in output:\n%s", out)
	}
	h := http.Header{}
	for line := range strings.SplitSeq(head, "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("bad header line %q", line)
		}
		h.Add(name, value)
	}
	return h, strings.TrimSpace(curl)
}

func signKeys(t *testing.T) []webhook.Key {
	t.Helper()
	var keys []webhook.Key
	for name, secret := range map[string]string{"zapier": signTestSecret, "cron": "plain-cron-secret"} {
		k, err := webhook.ConfiguredKey(name, secret)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func TestWebhookSignStandardFromFile(t *testing.T) {
	e, stdout, stderr, dir := signEnv(t)
	body := []byte(`{"gpu_type":"4090","hours":2}`)
	file := filepath.Join(dir, "order.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := webhookSignCmd{Key: "zapier", Path: "/webhook/create-order", File: file}
	if err := cmd.Run(e); err != nil {
		t.Fatal(err)
	}
	h, curl := printedHeaders(t, stdout.String())
	v, err := webhook.Verify(h, body, signKeys(t), webhook.VerifyOptions{})
	if err != nil || v.Key != "zapier" || v.Scheme != webhook.SchemeStandard || !strings.HasPrefix(v.ID, "msg_") {
		t.Fatalf("Verify = %+v, %v\n%s", v, err, stdout)
	}
	for _, want := range []string{"curl -sS -X POST http://127.0.0.1:9090/webhook/create-order",
		"-H 'content-type: application/json'", "-H 'webhook-id: " + v.ID + "'", "--data-binary @" + file} {
		if !strings.Contains(curl, want) {
			t.Errorf("curl line lacks %q:\n%s", want, curl)
		}
	}
	if strings.Contains(stdout.String()+stderr.String(), signTestSecret) || strings.Contains(stdout.String()+stderr.String(), strings.TrimPrefix(signTestSecret, "whsec_")) {
		t.Error("the output shows the secret")
	}
	if !strings.Contains(stderr.String(), "webhook.tolerance") {
		t.Errorf("stderr = %q", stderr)
	}
}

func TestWebhookSignLegacyFromStdin(t *testing.T) {
	e, stdout, _, _ := signEnv(t)
	body := []byte(`{"text":"market 4090"}`)
	cmd := webhookSignCmd{Key: "cron", Legacy: true, Path: "/webhook/command", File: "-", stdin: bytes.NewReader(body)}
	if err := cmd.Run(e); err != nil {
		t.Fatal(err)
	}
	h, curl := printedHeaders(t, stdout.String())
	v, err := webhook.Verify(h, body, signKeys(t), webhook.VerifyOptions{Legacy: true})
	if err != nil || v.Key != "cron" || v.Scheme != webhook.SchemeLegacy || v.ID == "" || v.Timestamp.IsZero() {
		t.Fatalf("Verify = %+v, %v\n%s", v, err, stdout)
	}
	if !strings.HasPrefix(h.Get("X-Webhook-Signature"), "sha256=") || !strings.Contains(curl, `--data-binary '{"text":"market 4090"}'`) {
		t.Errorf("output:\n%s", stdout)
	}
}

func TestWebhookSignGETRouteSignsTheEmptyBody(t *testing.T) {
	e, stdout, _, _ := signEnv(t)
	cmd := webhookSignCmd{Key: "zapier", Path: "/webhook/jobs/abc123", File: "-"}
	if err := cmd.Run(e); err != nil {
		t.Fatal(err)
	}
	h, curl := printedHeaders(t, stdout.String())
	if _, err := webhook.Verify(h, nil, signKeys(t), webhook.VerifyOptions{Now: func() time.Time { return time.Now() }}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !strings.HasPrefix(curl, "curl -sS -X GET http://127.0.0.1:9090/webhook/jobs/abc123 -H") || strings.Contains(curl, "data-binary") {
		t.Errorf("curl line: %s", curl)
	}
}

func TestWebhookSignRefusesUnknownKeyAndBadInput(t *testing.T) {
	e, _, _, dir := signEnv(t)
	tests := []struct {
		cmd  webhookSignCmd
		want string
	}{
		{webhookSignCmd{Key: "nosuch", Path: "/webhook/command", File: "-", stdin: strings.NewReader("{}")}, `--key "nosuch": no such key in webhook.keys; configured: cron, zapier`},
		{webhookSignCmd{Key: "zapier", Path: "/other", File: "-", stdin: strings.NewReader("{}")}, "--path"},
		{webhookSignCmd{Key: "zapier", Path: "/webhook/command", File: filepath.Join(dir, "missing.json")}, "missing.json"},
		{webhookSignCmd{Key: "zapier", Path: "/webhook/command", File: "-", stdin: bytes.NewReader(make([]byte, 2<<20))}, "larger than 1 MiB"},
		{webhookSignCmd{Key: "zapier", Path: "/webhook/marketplace", File: "body.json"}, "GET route"},
	}
	for _, tt := range tests {
		err := tt.cmd.Run(e)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want a usage error naming %q", tt.cmd, err, tt.want)
		}
	}
}

func TestListenURL(t *testing.T) {
	for listen, want := range map[string]string{
		":8080": "http://localhost:8080", "0.0.0.0:80": "http://localhost:80", "[::]:9000": "http://localhost:9000",
		"127.0.0.1:9090": "http://127.0.0.1:9090", "[::1]:8080": "http://[::1]:8080", "bad": "http://localhost:8080",
	} {
		if got := listenURL(listen); got != want {
			t.Errorf("listenURL(%q) = %s, want %s", listen, got, want)
		}
	}
}

// Commands that never call Clore run where no Clore API key is configured
// (a laptop that only signs requests); serve and exec still need one.
func TestCommandsWithoutCloreNeedNoAPIKey(t *testing.T) {
	dir := t.TempDir()
	conf := "[storage]\npath = \"" + filepath.ToSlash(filepath.Join(dir, "c.db")) + "\"\n[[webhook.keys]]\nname = \"cron\"\nsecret = \"plain-cron-secret\"\n"
	if err := os.WriteFile(filepath.Join(dir, "clorebot.toml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	body := filepath.Join(dir, "body.json")
	os.WriteFile(body, []byte(`{"text":"status"}`), 0o600)
	for _, args := range [][]string{{"webhook", "sign", "--key", "cron", body}, {"deliveries", "list"}, {"audit"}, {"migrate"}} {
		if code, out, stderr := run(t, dir, nil, args...); code != 0 {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	if code, _, stderr := run(t, dir, nil, "exec", "status"); code != exitUsage || !strings.Contains(stderr, "clore.api_key") {
		t.Errorf("exec without an API key: exit %d %s", code, stderr)
	}
}
