package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

func TestSpans(t *testing.T) {
	at := time.Unix(1795896000, 0).UTC()
	s := "a " + commands.Mention("slack:U1") + " b " + commands.Time(at, commands.TimeRelative) + " " +
		commands.CommandHint("status 5") + " \u0091@not an identity\u0092 \u0092stray \u0091/`rm -rf`\u0092 \u0091x"
	got := commands.Spans(s)
	kinds := []commands.SpanKind{}
	for _, sp := range got {
		kinds = append(kinds, sp.Kind)
	}
	want := []commands.SpanKind{commands.SpanText, commands.SpanMention, commands.SpanText, commands.SpanTime, commands.SpanText,
		commands.SpanCommand, commands.SpanText}
	if len(kinds) != len(want) {
		t.Fatalf("spans %+v", got)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("span %d is %v, want %v: %+v", i, kinds[i], want[i], got)
		}
	}
	if got[1].Text != "slack:U1" || !got[3].Time.Equal(at) || got[3].Style != commands.TimeRelative || got[5].Text != "status 5" {
		t.Errorf("marks read as %+v", got)
	}
	if tail := got[6].Text; strings.ContainsAny(tail, "\u0091\u0092") || !strings.Contains(tail, "not an identity") ||
		!strings.Contains(tail, "`rm -rf`") {
		t.Errorf("malformed marks should read as their text without delimiters: %q", tail)
	}
	if u := commands.Unmark(s); strings.ContainsAny(u, "\u0091\u0092") ||
		!strings.HasPrefix(u, "a slack:U1 b 2026-11-28 20:00 UTC `status 5` ") {
		t.Errorf("Unmark = %q", u)
	}
}

// A user cannot type a mark: the parser refuses its delimiters.
func TestMarksCannotBeTyped(t *testing.T) {
	for _, text := range []string{"rent \u0091@slack:UADMIN\u0092", `rent 4090 --image "x` + "\u0091" + `"`, "watch \u00914090\u0092 1"} {
		if _, err := commands.Parse(text); err == nil {
			t.Errorf("%q parsed", text)
		}
	}
}

// Marks go to chat only: a webhook's or the command line's reply, and a
// job's progress for them, are plain text.
func TestMarksOnlyForChat(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	svc := h.service()
	ctx := context.Background()
	for _, platform := range []string{commands.PlatformWebhook, commands.PlatformCLI, commands.PlatformSlack} {
		user := map[string]string{commands.PlatformWebhook: "webhook:zapier", commands.PlatformCLI: "slack:ALICE",
			commands.PlatformSlack: "slack:ALICE"}[platform]
		r := svc.Handle(ctx, commands.Request{Platform: platform, User: user, Text: "rent 3090 --hours 1",
			IdempotencyKey: "marks-" + platform})
		if r.JobID == "" {
			t.Fatalf("%s rent: %+v", platform, r)
		}
		if _, err := svc.RunJob(ctx, r.JobID); err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, rep := range h.replies.all() {
			if rep.JobID == r.JobID {
				texts = append(texts, rep.Title+" "+rep.Text)
			}
		}
		joined := strings.Join(texts, "|")
		marked := strings.ContainsAny(joined, "\u0091\u0092")
		if marked != (platform == commands.PlatformSlack) || !strings.Contains(joined, "is running") {
			t.Errorf("%s: marks %v in %q", platform, marked, joined)
		}
	}
}
