package webhook_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/commands"
)

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// Every request outcome leaves one line at INFO and above, refusals for who
// sent them at WARN with the error they were answered with, and no line
// holds a secret or the body.
func TestEachRequestOutcomeIsLoggedOnceAtItsLevel(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := newHarness(t, func(o *webhook.APIOptions, _ *commands.Policy) { o.Logger = log })
	tests := []struct {
		name   string
		req    *http.Request
		status int
		level  string // "" = no line at INFO
		error  string // in the line's error attribute
	}{
		{"unsigned", request("POST", "/webhook/status", []byte(`{}`)), 401, "WARN", "webhook-signature: missing"},
		{"forbidden", h.signed("POST", "/webhook/create-order", "watcher", []byte(`{"gpu_type":"rtx3090"}`)), 403, "WARN", "webhook:watcher"},
		{"bad field", h.signed("POST", "/webhook/create-order", "zapier", []byte(`{"gpu_type":7}`)), 400, "INFO", "gpu_type"},
		{"served write", h.signed("POST", "/webhook/status", "zapier", []byte(`{}`)), 200, "INFO", ""},
		{"served read", h.signed("GET", "/webhook/marketplace", "zapier", nil), 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.do(tt.req)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.status, resp.raw)
			}
			out := strings.TrimSpace(buf.take())
			if tt.level == "" {
				if out != "" {
					t.Fatalf("a served read logged at INFO:\n%s", out)
				}
				return
			}
			var lines []map[string]any
			for l := range strings.SplitSeq(out, "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("not a JSON line: %q", l)
				}
				if m["msg"] == "webhook request" {
					lines = append(lines, m)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("%d request lines, want 1:\n%s", len(lines), out)
			}
			l := lines[0]
			if l["level"] != tt.level || l["status"] != float64(tt.status) || l["route"] == "" {
				t.Errorf("line = %v, want level %s status %d", l, tt.level, tt.status)
			}
			if e, _ := l["error"].(string); !strings.Contains(e, tt.error) {
				t.Errorf("error attribute %q lacks %q", e, tt.error)
			}
			if _, ok := l["took"]; !ok {
				t.Errorf("line lacks took: %v", l)
			}
			for name, secret := range h.secrets {
				if strings.Contains(out, secret) {
					t.Errorf("the line holds key %s's secret", name)
				}
			}
		})
	}
}
