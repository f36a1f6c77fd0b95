package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// RequestRecordTTL is how long the answer of a keyed state change (a
// RequestRecord) is kept: far beyond every platform's retry window (Slack
// retries a slow ack within minutes, a Discord interaction lives 15
// minutes, a webhook's dedup window is a day).
const RequestRecordTTL = 24 * time.Hour

// Commands that change state without becoming a job are keyed by their
// request (DESIGN §7): their change and their answer, a RequestRecord,
// are written in one transaction under the request's idempotency key, and
// a redelivery of the request gets that answer and changes nothing:
//
//   - extend: ExtendOrder
//   - watch cancel: CancelWatch
//   - confirm (and the Rent now button): ConfirmJobGuarded
//
// A watch is keyed by its own IdempotencyKey (CreateWatch), and rent and
// cancel by their job's. A request without a key (a compatibility webhook
// without an id) is not keyed.

// answeredBefore returns the recorded answer of req, a redelivery of a
// keyed state change by the same user; false when req is new (or has no
// key). The same key with another command is refused: a key names one
// request.
func (s *Service) answeredBefore(ctx context.Context, req Request, rec *intakeRecord) (Reply, bool) {
	if req.IdempotencyKey == "" {
		return Reply{}, false
	}
	got, err := s.store.RequestAnswer(ctx, req.IdempotencyKey, req.User)
	switch {
	case errors.Is(err, ErrNotFound):
		return Reply{}, false
	case err != nil:
		// Unknown: the keyed write will tell (ErrRepeated) if it was.
		s.log.LogAttrs(ctx, slog.LevelWarn, "request record not read", slog.Any("error", err))
		return Reply{}, false
	}
	rec.repeated = true
	return s.recordedReply(got, rec.command), true
}

// recordedReply decodes a recorded answer for a redelivery of command.
func (s *Service) recordedReply(got RequestRecord, command string) Reply {
	if got.Command != command {
		return Reply{Status: StatusError, Conflict: true, Visibility: Ephemeral, Done: true,
			Text: "this request's id came before with another command; nothing was done"}
	}
	var r Reply
	if err := json.Unmarshal(got.Answer, &r); err != nil {
		return Reply{Status: StatusOK, Visibility: Ephemeral, Done: true, Text: "This request was handled already."}
	}
	if r.JobID == "" && r.Visibility == Public {
		// The channel saw the first answer; the redelivery's requester
		// sees it again, alone, rather than the channel twice.
		r.Visibility = Ephemeral
	}
	return r
}

// requestRecord is the record of req answered with r, for a keyed write;
// nil when req has no key.
func (s *Service) requestRecord(req Request, rec *intakeRecord, r Reply) *RequestRecord {
	if req.IdempotencyKey == "" {
		return nil
	}
	answer, err := json.Marshal(r.Public())
	if err != nil {
		answer = nil // recordedReply answers "handled already"
	}
	return &RequestRecord{Key: req.IdempotencyKey, Actor: req.User, Command: rec.command, Answer: answer, At: s.clock.Now()}
}

// repeatedAnswer is the answer of a keyed write that found its request
// recorded (ErrRepeated): the first delivery's answer.
func (s *Service) repeatedAnswer(ctx context.Context, req Request, rec *intakeRecord) Reply {
	if r, ok := s.answeredBefore(ctx, req, rec); ok {
		return r
	}
	rec.repeated = true
	return Reply{Status: StatusOK, Visibility: Ephemeral, Done: true, Text: "This request was handled already."}
}

// PurgeRequests deletes the request records older than RequestRecordTTL.
// serve runs it on its scheduler.
func (s *Service) PurgeRequests(ctx context.Context) error {
	n, err := s.store.PurgeRequests(ctx, s.clock.Now().Add(-RequestRecordTTL))
	if err != nil {
		return fmt.Errorf("commands: purge request records: %w", err)
	}
	if n > 0 {
		s.log.LogAttrs(ctx, slog.LevelInfo, "request records purged", slog.Int("records", n))
	}
	return nil
}

// WipeReplyTargets drops the expired parts of stored reply targets (Slack
// response_urls after 30 minutes, Discord interaction tokens after 15):
// the database keeps no capability past its life. serve runs it on its
// scheduler, every minute.
func (s *Service) WipeReplyTargets(ctx context.Context) error {
	n, err := s.store.WipeReplyTargets(ctx, s.clock.Now())
	if err != nil {
		return fmt.Errorf("commands: wipe expired reply targets: %w", err)
	}
	if n > 0 {
		s.log.LogAttrs(ctx, slog.LevelDebug, "expired reply targets wiped", slog.Int("targets", n))
	}
	return nil
}
