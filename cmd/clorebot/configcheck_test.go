package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// `config check` runs exactly the validation `serve` runs: every
// configuration serve refuses, config check refuses with the same message
// and exit status 2, and neither writes anything.
func TestConfigCheckAndServeRefuseTheSameConfigurations(t *testing.T) {
	key := "[[webhook.keys]]\nname = %q\nsecret = %q\n"
	tests := []struct {
		name, file string
		environ    []string
		want       string
	}{
		{"whsec_ secret that is not base64", sprintf(key, "zap", "whsec_%%%not-base64"), nil, "webhook.keys[0].secret: the part after whsec_ is not base64"},
		{"whsec_ secret with nothing after it", sprintf(key, "zap", "whsec_"), nil, "webhook.keys[0].secret: nothing after whsec_"},
		{"storage in memory", "[storage]\npath = \":memory:\"\n", nil, "storage.path: want a file path"},
		{"storage as a URI", "", []string{"CLOREBOT_STORAGE_PATH=file:x.db?mode=memory"}, "storage.path: want a file path"},
		{"two keys with one secret", sprintf(key, "a", "one-secret-for-two") + sprintf(key, "b", "one-secret-for-two"), nil,
			"webhook.keys[1].secret: the same secret as webhook.keys[0]"},
		{"subscriber secret not base64", "[[webhook.subscribers]]\nurl = \"https://h.example/x\"\nsecret = \"whsec_***\"\n", nil,
			"webhook.subscribers[0].secret: the part after whsec_ is not base64"},
		{"subscriber listed twice", strings.Repeat("[[webhook.subscribers]]\nurl = \"https://h.example/x\"\nsecret = \"s\"\n", 2), nil,
			"webhook.subscribers[1].url: the same URL"},
		{"trusted proxy not a CIDR", "[http]\ntrusted_proxies = [\"10.0.0.1\"]\n", nil, "http.trusted_proxies"},
		{"unknown key", "[webhook]\ncallback_allow_privat = true\n", nil, "webhook.callback_allow_privat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "clorebot.toml"), []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			environ := append([]string{"CLOREBOT_HTTP_LISTEN=127.0.0.1:0"}, tt.environ...)
			var messages []string
			for _, args := range [][]string{{"--sandbox", "config", "check"}, {"--sandbox", "serve"}} {
				code, stdout, stderr := run(t, dir, environ, args...)
				if code != exitUsage || !strings.Contains(stderr, tt.want) {
					t.Errorf("%v: exit %d, stderr %q; want 2 naming %q", args, code, stderr, tt.want)
				}
				if stdout != "" {
					t.Errorf("%v printed %q", args, stdout)
				}
				if strings.Contains(stderr, "not-base64") || strings.Contains(stderr, "one-secret-for-two") {
					t.Errorf("%v quotes a secret: %s", args, stderr)
				}
				messages = append(messages, stderr)
			}
			if messages[0] != messages[1] {
				t.Errorf("config check and serve disagree:\n%s\n%s", messages[0], messages[1])
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("files were written: %v", entries)
			}
		})
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// Kubernetes adds service-link variables (CLOREBOT_PORT, ...) for a
// Service named clorebot: one warning line each, and clorebot runs.
func TestKubernetesServiceLinkVariablesOnlyWarn(t *testing.T) {
	dir := t.TempDir()
	environ := []string{
		"CLOREBOT_HTTP_LISTEN=127.0.0.1:0",
		"CLOREBOT_PORT=tcp://10.96.4.2:8080",
		"CLOREBOT_PORT_8080_TCP=tcp://10.96.4.2:8080",
		"CLOREBOT_PORT_8080_TCP_ADDR=10.96.4.2",
		"CLOREBOT_PORT_8080_TCP_PORT=8080",
		"CLOREBOT_PORT_8080_TCP_PROTO=tcp",
		"CLOREBOT_SERVICE_HOST=10.96.4.2",
		"CLOREBOT_SERVICE_PORT=8080",
	}
	code, stdout, stderr := run(t, dir, environ, "--sandbox", "config", "check")
	if code != exitOK || !strings.Contains(stdout, "[webhook]") {
		t.Fatalf("config check: exit %d, stderr %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 8 || !strings.HasPrefix(lines[7], "configuration OK") {
		t.Fatalf("stderr: want 7 warnings and OK, got:\n%s", stderr)
	}
	for i, l := range lines[:7] {
		name, _, _ := strings.Cut(environ[i+1], "=")
		if !strings.HasPrefix(l, "clorebot: warning: config: "+name+": unknown environment variable, ignored") {
			t.Errorf("line %q", l)
		}
	}
	// serve starts with them set.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t.Chdir(dir)
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"--sandbox", "serve"}, onTestDB(t, dir, environ, nil), &out, &errOut)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errOut.String(), "clorebot serving") {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", errOut.String())
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("serve: exit %d: %s", code, errOut.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
