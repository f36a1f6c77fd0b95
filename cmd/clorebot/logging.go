package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/internal/config"
)

// newLogger builds the process's slog logger from the configuration; quiet
// raises its level to WARN at least. Every line of the process goes through
// its one handler: clorebot's own, gocron's, discordgo's (routeDiscordgo) and
// the standard library log package's (routeStdLog).
func newLogger(cfg *config.Config, w io.Writer, quiet bool) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated by config
	if quiet {
		level = max(level, slog.LevelWarn)
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationsAsText}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationsAsText writes every time.Duration attribute as Go's duration text
// ("1.5s", "250ms"): the JSON handler would write nanoseconds, which nobody
// reads without a calculator, and the text handler already writes this form.
// Done here, at the handler, so that no call site can forget it.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// discordgoLog is where discordgo's own messages go. discordgo reports
// through one package variable (discordgo.Logger) for every session of the
// process, so the bridge is installed once, at start, and reads the logger
// of the App that runs the Discord front door from here; nil drops them.
var discordgoLog atomic.Pointer[slog.Logger]

func init() { discordgo.Logger = discordgoToSlog }

// routeDiscordgo sends discordgo's messages to log from now on.
func routeDiscordgo(log *slog.Logger) {
	discordgoLog.Store(log.With(slog.String("component", "discordgo")))
}

// discordgoToSlog is discordgo.Logger: one slog record per message, at the
// level discordgo gave it. Its messages are formatted by discordgo and hold
// no token (it logs URLs without the authorization header, and errors).
func discordgoToSlog(msgL, _ int, format string, a ...any) {
	l := discordgoLog.Load()
	if l == nil {
		return
	}
	level := slog.LevelDebug
	switch msgL {
	case discordgo.LogError:
		level = slog.LevelError
	case discordgo.LogWarning:
		level = slog.LevelWarn
	case discordgo.LogInformational:
		level = slog.LevelInfo
	}
	l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(format, a...)))
}

// routeStdLog sends what libraries print with the standard log package (at
// INFO) through log's handler until the returned func restores the previous
// default: a plain-text line never breaks a JSON log.
func routeStdLog(l *slog.Logger) (restore func()) {
	prev, w, flags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(l)
	return func() {
		// slog.SetDefault leaves the log package writing to l's handler
		// when given its original default back: restore both by hand.
		slog.SetDefault(prev)
		log.SetOutput(w)
		log.SetFlags(flags)
	}
}
