package slackbot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/slack-go/slack"
)

// signatureHeader carries the signature of Slack's HTTP-mode requests.
const signatureHeader = "X-Slack-Signature"

// maxBody bounds an HTTP-mode request body; Slack's are a few KiB.
const maxBody = 1 << 20

// HTTP mode: Slack POSTs slash commands and clicks to the bot's URL, signed
// with the app's signing secret (v0: HMAC-SHA256 of "v0:<timestamp>:<body>").
// Both handlers verify the signature on the raw body, read once, with
// slack-go's SecretsVerifier (5-minute window both ways) before anything
// else; a bad, stale or missing signature is answered 401 and nothing else
// happens (logged at debug: the process server's limit on failed
// authentication logs a summary). A request whose signed message was seen
// before (a replay within the window, whatever the case of the
// signature's hex, to this process or, through Options.Replays, another
// one or this one after a restart) is answered 200 and not acted on again.

// CommandsHandler serves POST /slack/commands.
func (b *Bot) CommandsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := b.verified(w, r)
		if !ok {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		c, err := slack.SlashCommandParse(r)
		if err != nil || c.UserID == "" || c.ChannelID == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not a slash command: user_id and channel_id are required"})
			return
		}
		answered := make(chan any, 1)
		if !b.goBackground(r.Context(), func(ctx context.Context) { answered <- b.command(ctx, c) }) {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "shutting down"})
			return
		}
		select {
		case p := <-answered:
			p, then := sentAck(p)
			defer then()
			if p == nil {
				w.WriteHeader(http.StatusOK)
				return
			}
			writeJSON(w, http.StatusOK, p)
		case <-r.Context().Done():
		}
	})
}

// InteractivityHandler serves POST /slack/interactivity: the click is
// acknowledged with 200 at once and handled in the background.
func (b *Bot) InteractivityHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := b.verified(w, r)
		if !ok {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "payload: not a form"})
			return
		}
		var cb slack.InteractionCallback
		if err := json.Unmarshal([]byte(r.PostForm.Get("payload")), &cb); err != nil || cb.User.ID == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "payload: not an interaction"})
			return
		}
		if !b.goBackground(r.Context(), func(ctx context.Context) { b.click(ctx, cb) }) {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "shutting down"})
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// verified reads the body once and checks its signature. On failure it
// has answered (401, 413, or 200 for a replay) and returns false.
func (b *Bot) verified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if b.o.SigningSecret == "" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Slack HTTP mode is off"})
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body over 1 MiB"})
			return nil, false
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body unreadable"})
		return nil, false
	}
	sv, err := slack.NewSecretsVerifier(r.Header, b.o.SigningSecret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		b.log.LogAttrs(r.Context(), slog.LevelDebug, "slack request refused: signature", slog.String("path", r.URL.Path), slog.Any("error", err))
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "bad or stale Slack signature"})
		return nil, false
	}
	first, err := b.replays.First(r.Context(), signedKey(r.Header, body), time.Now())
	switch {
	case err != nil:
		b.log.LogAttrs(r.Context(), slog.LevelError, "slack request not checked for a replay", slog.String("path", r.URL.Path), slog.Any("error", err))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "try again"})
		return nil, false
	case !first:
		b.log.LogAttrs(r.Context(), slog.LevelInfo, "slack request replayed; not acted on", slog.String("path", r.URL.Path))
		w.WriteHeader(http.StatusOK)
		return nil, false
	}
	return body, true
}

// signedKey names a verified request by what its signature signs, the
// timestamp and the body, not by the signature's text: slack-go accepts
// its hex in either case, and a replay with the hex in upper case is the
// same request.
func signedKey(h http.Header, body []byte) string {
	sum := sha256.New()
	sum.Write([]byte("v0:" + h.Get("X-Slack-Request-Timestamp") + ":"))
	sum.Write(body)
	return "slack:" + hex.EncodeToString(sum.Sum(nil))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
