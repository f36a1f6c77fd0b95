package slackbot

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/bot/slackbot/slacktest"
	"github.com/clorebot/clorebot/commands"
)

// parseMemoryService judges AnswerFromMemory as commands.Service does
// (help, or a text that does not parse), and stands for a store that is
// slow: every command that parses and is not help blocks in Handle until
// release is closed.
type parseMemoryService struct {
	stubService
	release chan struct{}
	slow    chan string
}

func (s *parseMemoryService) AnswerFromMemory(ctx context.Context, req commands.Request) (commands.Reply, bool) {
	if cmd, err := commands.Parse(req.Text); err == nil && cmd.Name != "help" {
		return commands.Reply{}, false
	}
	return s.Handle(ctx, req), true
}

func (s *parseMemoryService) Handle(ctx context.Context, req commands.Request) commands.Reply {
	if cmd, err := commands.Parse(req.Text); err == nil && cmd.Name != "help" {
		s.slow <- req.Text
		<-s.release
	}
	return s.stubService.Handle(ctx, req)
}

// Review R1: fromMemory judged the raw slash-command text, but Handle gets the
// text trimmed (chat.CommandRequest). A command padded with trailing
// whitespace past the grammar's 4096-byte limit is "too long" (a usage
// error, answered from memory) before the trim and a valid command after
// it: the socket's reader then runs a command that reads or writes the
// store (status, watch …) itself, and every envelope behind it waits.
func TestPaddedCommandDoesNotRunOnTheSocketReader(t *testing.T) {
	svc := &parseMemoryService{release: make(chan struct{}), slow: make(chan string, 4)}
	_, fake := startBot(t, &svc.stubService, func(o *Options) { o.Service = svc })
	defer close(svc.release)
	if !fake.WaitConnected(1, wait) {
		t.Fatal("never connected")
	}
	padded := "status" + strings.Repeat(" ", 4100)
	if err := fake.Send(slacktest.Envelope("padded", "slash_commands", fake.Slash("U1", "C1", padded, "trig-padded"), 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-svc.slow:
	case <-time.After(wait):
		t.Fatal("the padded status never reached the command layer")
	}
	if err := fake.Send(slacktest.Envelope("next", "slash_commands", fake.Slash("U1", "C1", "help", "trig-next"), 0)); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.WaitAck("next", 2*time.Second); !ok {
		t.Fatal("a help sent after a whitespace-padded `status` was not acknowledged within 2 s: the socket's reader is running the status (a store read) itself")
	}
}
