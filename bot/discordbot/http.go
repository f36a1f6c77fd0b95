package discordbot

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/bwmarrin/discordgo"
)

// Limits of HTTP interactions.
const (
	maxInteractionBytes = 64 << 10
	// signatureTolerance bounds the age of X-Signature-Timestamp: Discord
	// signs each request as it sends it, so an old timestamp is a replay.
	signatureTolerance = 5 * time.Minute
	// httpAnswerBudget is how long the endpoint waits for the first answer;
	// Discord gives up after 3 s.
	httpAnswerBudget = 2800 * time.Millisecond
)

// HTTPPath is where Discord posts interactions in HTTP mode (DESIGN.md §5).
const HTTPPath = "/discord/interactions"

// Handler serves POST /discord/interactions: Ed25519 verification with the
// application's public key over timestamp + body, PING answered with PONG,
// everything else answered by the same handlers as the gateway, with the
// first answer in the HTTP response. It is nil without a public key.
func (b *Bot) Handler() (http.Handler, error) {
	if b.o.PublicKey == "" {
		return nil, nil
	}
	key, err := hex.DecodeString(b.o.PublicKey)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, errors.New("discordbot: public key: want 64 hexadecimal characters")
	}
	return &httpInteractions{b: b, key: ed25519.PublicKey(key)}, nil
}

type httpInteractions struct {
	b   *Bot
	key ed25519.PublicKey
}

// answer is a first answer handed from the interaction's handler to the
// HTTP response; done closes once it is written.
type answer struct {
	resp *discordgo.InteractionResponse
	done chan struct{}
}

func (h *httpInteractions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInteractionBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body over 64 KiB"})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unreadable body"})
		return
	}
	if problem := h.verify(r.Header, body); problem != "" {
		h.b.log.LogAttrs(r.Context(), slog.LevelDebug, "discord interaction refused: signature", slog.String("problem", problem))
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": problem})
		return
	}
	var i discordgo.Interaction
	if err := json.Unmarshal(body, &i); err != nil || i.ID == "" || i.Type == 0 || !wellFormed(&i) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: not an interaction"})
		return
	}
	if i.Type == discordgo.InteractionPing {
		writeJSON(w, http.StatusOK, &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong})
		return
	}
	isNew, err := h.b.replays.First(r.Context(), "discord:"+i.ID, h.b.now())
	switch {
	case err != nil:
		h.b.log.LogAttrs(r.Context(), slog.LevelError, "discord interaction not checked for a replay",
			slog.String("interaction_id", i.ID), slog.Any("error", err))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "try again"})
		return
	case !isNew:
		h.b.log.LogAttrs(r.Context(), slog.LevelInfo, "discord interaction replayed; not acted on", slog.String("interaction_id", i.ID))
		writeJSON(w, http.StatusConflict, map[string]string{"error": "id: interaction already answered"})
		return
	}
	first := make(chan answer, 1)
	// gone is closed once the HTTP answer was given up (the budget ran out):
	// a late respond then fails at once instead of waiting forever.
	gone := make(chan struct{})
	respond := func(ctx context.Context, resp *discordgo.InteractionResponse, _ ...discordgo.RequestOption) error {
		a := answer{resp: resp, done: make(chan struct{})}
		select {
		case <-gone:
			return errTooLate
		default:
		}
		select {
		case first <- a:
		default:
			return errors.New("discordbot: interaction answered twice")
		}
		select {
		case <-a.done:
			return nil
		case <-gone:
			return errTooLate
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ctx := context.WithoutCancel(r.Context())
	h.b.wg.Go(func() { h.b.handle(ctx, &i, respond) })
	timer := time.NewTimer(httpAnswerBudget)
	defer timer.Stop()
	select {
	case a := <-first:
		writeJSON(w, http.StatusOK, a.resp)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		close(a.done)
	case <-timer.C:
		close(gone)
		h.b.log.LogAttrs(r.Context(), slog.LevelError, "discord interaction not answered in time", slog.String("interaction_id", i.ID))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not answered in time"})
	}
}

// verify checks the Ed25519 signature over timestamp + body and the
// timestamp's age; it returns what is wrong, or "".
func (h *httpInteractions) verify(hdr http.Header, body []byte) string {
	sig, err := hex.DecodeString(hdr.Get("X-Signature-Ed25519"))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "X-Signature-Ed25519: missing or malformed"
	}
	ts := hdr.Get("X-Signature-Timestamp")
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "X-Signature-Timestamp: missing or malformed"
	}
	msg := make([]byte, 0, len(ts)+len(body))
	msg = append(append(msg, ts...), body...)
	if !ed25519.Verify(h.key, msg, sig) {
		return "invalid request signature"
	}
	if age := h.b.now().Sub(time.Unix(secs, 0)); age > signatureTolerance || age < -signatureTolerance {
		return "X-Signature-Timestamp: outside the tolerance"
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
