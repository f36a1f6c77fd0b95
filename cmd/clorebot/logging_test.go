package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/internal/config"
	"github.com/clorebot/clorebot/storage"
)

// logBuffer is a log destination safe for concurrent writers.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines decodes every JSON line written so far.
func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		out = append(out, m)
	}
	return out
}

func jsonLogger(t *testing.T, level string) (*slog.Logger, *logBuffer) {
	t.Helper()
	cfg := config.Defaults()
	cfg.Log.Format, cfg.Log.Level = "json", level
	var buf logBuffer
	return newLogger(&cfg, &buf, false), &buf
}

// Durations are written as Go's duration text by the handler itself,
// whichever call site logs them, in groups too.
func TestLoggedDurationsAreText(t *testing.T) {
	l, buf := jsonLogger(t, "info")
	l.Info("retrying", slog.Duration("retry_in", time.Second), slog.Any("backoff", 1500*time.Millisecond),
		slog.Group("limiter", slog.Duration("wait", 250*time.Millisecond)))
	got := buf.lines(t)[0]
	if got["retry_in"] != "1s" || got["backoff"] != "1.5s" || got["limiter"].(map[string]any)["wait"] != "250ms" {
		t.Fatalf("durations logged as %v", got)
	}
}

// discordgo's own messages are records of the same handler (JSON here), at
// the level discordgo gave them, not plain-text lines of the log package.
func TestDiscordgoLogsThroughTheHandler(t *testing.T) {
	l, buf := jsonLogger(t, "debug")
	routeDiscordgo(l)
	t.Cleanup(func() { discordgoLog.Store(nil) })
	var std bytes.Buffer
	prev := log.Writer()
	log.SetOutput(&std)
	t.Cleanup(func() { log.SetOutput(prev) })
	s, err := discordgo.New("Bot not-a-token")
	if err != nil {
		t.Fatal(err)
	}
	s.AddHandler(42) // discordgo logs "Invalid handler type" at its error level
	if std.Len() > 0 {
		t.Errorf("discordgo wrote to the log package: %q", std.String())
	}
	lines := buf.lines(t)
	if len(lines) != 1 || lines[0]["level"] != "ERROR" || lines[0]["component"] != "discordgo" ||
		!strings.Contains(lines[0]["msg"].(string), "Invalid handler type") {
		t.Fatalf("discordgo's message logged as %v", lines)
	}
}

// What libraries print with the log package goes through the handler while
// serve runs, and back to where it went before afterwards.
func TestStdLogThroughTheHandler(t *testing.T) {
	l, buf := jsonLogger(t, "info")
	var before bytes.Buffer
	prev := log.Writer()
	log.SetOutput(&before)
	t.Cleanup(func() { log.SetOutput(prev) })
	restore := routeStdLog(l)
	log.Printf("http: TLS handshake error from %s", "192.0.2.1:5555")
	restore()
	log.Print("after")
	lines := buf.lines(t)
	if len(lines) != 1 || lines[0]["level"] != "INFO" || !strings.Contains(lines[0]["msg"].(string), "TLS handshake error") {
		t.Fatalf("log.Printf logged as %v", lines)
	}
	if !strings.Contains(before.String(), "after") {
		t.Errorf("the log package's output was not restored: %q", before.String())
	}
}

// Each chat request leaves one line naming its command and outcome, at INFO
// when served, at WARN when policy refused it; never the command's text.
func TestChatCommandOutcomeLogged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := storage.OpenAndMigrate(ctx, testDB(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, buf := jsonLogger(t, "info")
	svc := commands.New(commands.Options{Store: st, Logger: l,
		Policy: commands.Policy{Viewers: []string{"slack:UVERA"}, DefaultRole: commands.RoleNone, MaxHours: 168}})
	t.Cleanup(func() { _ = svc.FlushAudit(ctx) })
	c := chatCommands{svc: svc, log: l}
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyThatMustNotBeLogged vera@laptop"
	tests := []struct {
		text, command, status, level string
	}{
		{"help rent", "help", commands.StatusOK, "INFO"},
		{"frobnicate 3", "unknown", commands.StatusError, "INFO"},
		{"rent 3090 --ssh-key \"" + key + "\"", "rent", commands.StatusDenied, "WARN"},
	}
	for i, tt := range tests {
		r := c.Handle(ctx, commands.Request{Platform: commands.PlatformSlack, User: "slack:UVERA", Channel: "C1", Text: tt.text})
		if r.Status != tt.status {
			t.Fatalf("%q answered %s: %s", tt.text, r.Status, r.Text)
		}
		lines := buf.lines(t)
		if len(lines) != i+1 {
			t.Fatalf("%d lines after %d commands: %v", len(lines), i+1, lines)
		}
		got := lines[i]
		if got["msg"] != "chat command" || got["command"] != tt.command || got["status"] != tt.status || got["level"] != tt.level ||
			got["user"] != "slack:UVERA" || got["platform"] != "slack" {
			t.Errorf("%q logged as %v", tt.text, got)
		}
		if took, _ := got["took"].(string); took == "" {
			t.Errorf("took = %#v, want a duration text", got["took"])
		}
	}
	b, _ := json.Marshal(buf.lines(t))
	if strings.Contains(string(b), "KeyThatMustNotBeLogged") || strings.Contains(string(b), "frobnicate") {
		t.Errorf("a command's text reached the log: %s", b)
	}
}
