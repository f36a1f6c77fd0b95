package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// chatCommands is the command layer as the chat front doors (Slack,
// Discord) use it (chat.Service): every request a door hands over leaves
// one log line with its outcome.
type chatCommands struct {
	svc *commands.Service
	log *slog.Logger
}

// Handle implements chat.Handler.
func (c chatCommands) Handle(ctx context.Context, req commands.Request) commands.Reply {
	start := time.Now()
	r := c.svc.Handle(ctx, req)
	logChatCommand(ctx, c.log, req, r, time.Since(start))
	return r
}

// AnswerFromMemory implements chat.MemoryAnswerer.
func (c chatCommands) AnswerFromMemory(ctx context.Context, req commands.Request) (commands.Reply, bool) {
	start := time.Now()
	r, ok := c.svc.AnswerFromMemory(ctx, req)
	if ok {
		logChatCommand(ctx, c.log, req, r, time.Since(start))
	}
	return r, ok
}

// JobReplyRef implements chat.JobRefs.
func (c chatCommands) JobReplyRef(ctx context.Context, id string) (string, error) {
	return c.svc.JobReplyRef(ctx, id)
}

// Market implements chat.Service (GPU autocomplete).
func (c chatCommands) Market(ctx context.Context) ([]commands.ModelSummary, error) {
	return c.svc.Market(ctx)
}

// OrdersOf implements chat.Service (order autocomplete).
func (c chatCommands) OrdersOf(ctx context.Context, req commands.Request, limit int) ([]commands.Order, error) {
	return c.svc.OrdersOf(ctx, req, limit)
}

// CheckCancel implements chat.Service.
func (c chatCommands) CheckCancel(ctx context.Context, req commands.Request, orderID int64) *commands.Reply {
	return c.svc.CheckCancel(ctx, req, orderID)
}

// logChatCommand writes the one line of a chat request's outcome: INFO when
// it was served (a usage error included: the user's typo, answered), WARN
// when policy refused it or it failed for a reason of ours (an internal
// error is also logged, with its reference, where it happened). The line
// names the command, never its text: a rent's text may hold an SSH key,
// a watch a price the team keeps to itself.
func logChatCommand(ctx context.Context, log *slog.Logger, req commands.Request, r commands.Reply, took time.Duration) {
	level := slog.LevelInfo
	if r.Status == commands.StatusDenied || r.Status == commands.StatusFailed || r.Temporary ||
		r.Status == commands.StatusError && strings.HasPrefix(r.Text, "internal error") {
		level = slog.LevelWarn
	}
	if !log.Enabled(ctx, level) {
		return
	}
	log.LogAttrs(ctx, level, "chat command",
		slog.String("platform", req.Platform), slog.String("user", req.User), slog.String("channel", req.Channel),
		slog.String("command", commandName(req)), slog.String("status", r.Status), slog.String("job_id", r.JobID),
		slog.Duration("took", took))
}

// commandName is what a request asks for, for logs: the grammar's command
// ("rent", "watch"), "button:<kind>" for a click, "unknown" for text that
// names no command.
func commandName(req commands.Request) string {
	if req.Action != nil {
		kind, _, _ := strings.Cut(req.Action.ID, ":")
		return "button:" + kind
	}
	cmd, err := req.Parsed() // the door's parse: not repeated
	if err == nil {
		return cmd.Name
	}
	if ue, ok := errors.AsType[*commands.UsageError](err); ok && ue.Command != "" {
		return ue.Command
	}
	return "unknown"
}

// Permits implements discordbot.Service (the role check before deferring).
func (c chatCommands) Permits(req commands.Request) bool { return c.svc.Permits(req) }
