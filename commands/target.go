package commands

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A reply target (Request.ReplyTarget) may carry a part that is a bearer
// capability for a short while only: a Slack response_url (30 minutes), a
// Discord interaction token (15 minutes). A front door joins it to the
// durable part of its target with ExpiringTarget; the store drops it once
// it has expired (FreshTarget on every write of a target, and a periodic
// wipe, Store.WipeReplyTargets), so that the database does not keep dead
// capabilities, and front doors read targets with SplitTarget.
//
// The encoding is "<durable>\x1f<expiry, Unix seconds, 12 digits>\x1f<part>":
// the unit separator cannot occur in a durable part (front doors encode
// theirs as JSON or as platform ids, and a webhook's callback URL cannot
// hold a control character), and the fixed-width expiry compares as text,
// so that the store finds expired parts with SQL alone.
const (
	// TargetSeparator starts the expiring part of a reply target.
	TargetSeparator = "\x1f"
	// targetExpiryDigits is the width of the expiry.
	targetExpiryDigits = 12
)

// ExpiringTarget is the reply target durable with part attached until
// `until`; durable alone when part is empty.
func ExpiringTarget(durable, part string, until time.Time) string {
	if part == "" {
		return durable
	}
	return durable + TargetSeparator + TargetExpiry(until) + TargetSeparator + part
}

// TargetExpiry is t as the expiry of a reply target's expiring part.
func TargetExpiry(t time.Time) string {
	return fmt.Sprintf("%0*d", targetExpiryDigits, max(t.Unix(), 0))
}

// SplitTarget returns the durable part of target and, while it has not
// expired at now, its expiring part ("" once expired, wiped or absent).
func SplitTarget(target string, now time.Time) (durable, part string) {
	durable, part, until := ParseTarget(target)
	if part == "" || !until.After(now) {
		return durable, ""
	}
	return durable, part
}

// ParseTarget returns the parts of target and when its expiring part
// expires, expired or not ("" and the zero time when it has none).
func ParseTarget(target string) (durable, part string, until time.Time) {
	durable, rest, ok := strings.Cut(target, TargetSeparator)
	if !ok {
		return target, "", time.Time{}
	}
	expiry, part, ok := strings.Cut(rest, TargetSeparator)
	secs, err := strconv.ParseInt(expiry, 10, 64)
	if !ok || len(expiry) != targetExpiryDigits || err != nil {
		return durable, "", time.Time{}
	}
	return durable, part, time.Unix(secs, 0)
}

// FreshTarget is target without its expiring part once that part has
// expired at now (unchanged otherwise). The store applies it to every
// target it writes.
func FreshTarget(target string, now time.Time) string {
	durable, part := SplitTarget(target, now)
	if part == "" {
		return durable
	}
	return target
}
