package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clorebot/clorebot/internal/whsec"
)

// Header names of the two signature schemes (DESIGN.md §5). Errors name the
// headers exactly as written here.
const (
	sigHeaderID              = "webhook-id"
	sigHeaderTimestamp       = "webhook-timestamp"
	sigHeaderSignature       = "webhook-signature"
	sigHeaderLegacySignature = "X-Webhook-Signature"
	sigHeaderLegacyTimestamp = "X-Webhook-Timestamp"
	sigHeaderIdempotencyKey  = "Idempotency-Key"
)

// Scheme names reported in Verified.Scheme.
const (
	SchemeStandard = "standard"
	SchemeLegacy   = "legacy"
)

// DefaultTolerance is how far a signed timestamp may lie in the past or the
// future when VerifyOptions.Tolerance is zero.
const DefaultTolerance = 5 * time.Minute

const (
	maxIDLength   = 256
	maxUnixDigits = 18 // keeps time.Unix and second arithmetic far from overflow
)

// ParseSecret turns a configured secret into an HMAC key: "whsec_" followed
// by base64 is decoded (the Standard Webhooks form; padding is optional); any
// other string is used as its raw bytes. An empty secret, or bad or empty
// base64 after "whsec_", is an error that never quotes the secret. The
// configuration's validation applies the same rule (internal/whsec).
func ParseSecret(s string) ([]byte, error) {
	key, err := whsec.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("webhook: parse secret: %w", err)
	}
	return key, nil
}

// Key is one inbound webhook identity. Secret is the HMAC key of the Standard
// Webhooks scheme (ParseSecret of the configured string); Legacy is the
// configured secret string's raw bytes exactly as written, the key of the
// compatibility scheme, even when it starts with "whsec_". A key whose
// Secret or Legacy is empty never verifies under that scheme: an empty HMAC
// key is one anybody can sign with.
type Key struct {
	Name   string
	Secret []byte
	Legacy []byte
}

// VerifyOptions tunes Verify. The zero value checks Standard Webhooks
// signatures only, with DefaultTolerance and the wall clock.
type VerifyOptions struct {
	Tolerance time.Duration // default DefaultTolerance
	Legacy    bool          // accept the compatibility scheme
	Now       func() time.Time
}

// Verified is the outcome of a successful verification.
type Verified struct {
	Key       string    // name of the key that verified
	ID        string    // webhook-id, or the Idempotency-Key header (compat), or "" when the compat request has none
	Scheme    string    // SchemeStandard or SchemeLegacy
	Timestamp time.Time // UTC; zero when the compat request had no timestamp
}

// SignatureError says why a request was refused: the header at fault and the
// problem with it. It never carries a secret, an expected signature or the
// header's value, so its text is safe to return to the caller.
type SignatureError struct {
	Header  string
	Problem string
}

// Error reads like "webhook-timestamp: 412s in the past, tolerance is 300s".
func (e *SignatureError) Error() string { return e.Header + ": " + e.Problem }

func sigErr(header, problem string) *SignatureError {
	return &SignatureError{Header: header, Problem: problem}
}

// Verify checks a request's signature against every configured key and says
// which key signed it. The Standard Webhooks headers win whenever
// webhook-signature is present; the compatibility scheme is tried only when
// o.Legacy is set and that header is absent. Every refusal is a
// *SignatureError. Comparisons are constant-time.
func Verify(h http.Header, body []byte, keys []Key, o VerifyOptions) (Verified, error) {
	if o.Tolerance <= 0 {
		o.Tolerance = DefaultTolerance
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(h.Values(sigHeaderSignature)) > 0 {
		return verifyStandard(h, body, keys, o)
	}
	if o.Legacy && len(h.Values(sigHeaderLegacySignature)) > 0 {
		return verifyLegacy(h, body, keys, o)
	}
	problem := "missing"
	switch {
	case o.Legacy:
		problem = "missing (and no " + sigHeaderLegacySignature + " either)"
	case len(h.Values(sigHeaderLegacySignature)) > 0:
		problem = "missing; " + sigHeaderLegacySignature + " is not accepted here (the compatibility scheme is off unless " +
			"webhook.legacy_signatures = true, and never accepted on GETs or confirm)"
	}
	return Verified{}, sigErr(sigHeaderSignature, problem)
}

func verifyStandard(h http.Header, body []byte, keys []Key, o VerifyOptions) (Verified, error) {
	id, err := requiredHeader(h, sigHeaderID)
	if err != nil {
		return Verified{}, err
	}
	if err := checkMessageID(sigHeaderID, id); err != nil {
		return Verified{}, err
	}
	rawTS, err := requiredHeader(h, sigHeaderTimestamp)
	if err != nil {
		return Verified{}, err
	}
	ts, err := checkTimestamp(sigHeaderTimestamp, rawTS, o)
	if err != nil {
		return Verified{}, err
	}
	list, err := requiredHeader(h, sigHeaderSignature)
	if err != nil {
		return Verified{}, err
	}
	prefix := id + "." + rawTS + "."
	macs := make([][]byte, len(keys))
	for i, k := range keys {
		if len(k.Secret) > 0 {
			macs[i] = signatureMAC(k.Secret, prefix, body)
		}
	}
	i, problem := matchStandard(list, macs)
	if i < 0 {
		return Verified{}, sigErr(sigHeaderSignature, problem)
	}
	return Verified{Key: keys[i].Name, ID: id, Scheme: SchemeStandard, Timestamp: ts}, nil
}

// matchStandard returns the index of the key whose MAC equals one of the v1
// entries of a webhook-signature list, or -1 and the reason none did.
// Entries of other versions (v1a, v2, ...) are skipped, as the spec asks.
func matchStandard(list string, macs [][]byte) (int, string) {
	sawV1, sawMAC := false, false
	for entry := range strings.FieldsSeq(list) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		sawV1 = true
		mac, err := base64.StdEncoding.Strict().DecodeString(sig)
		if err != nil {
			continue
		}
		sawMAC = true
		for i, want := range macs {
			if want != nil && hmac.Equal(mac, want) {
				return i, ""
			}
		}
	}
	switch {
	case !sawV1:
		return -1, "no v1 signature"
	case !sawMAC:
		return -1, "v1 signature is not base64"
	default:
		return -1, "no signature matches"
	}
}

func verifyLegacy(h http.Header, body []byte, keys []Key, o VerifyOptions) (Verified, error) {
	raw, err := requiredHeader(h, sigHeaderLegacySignature)
	if err != nil {
		return Verified{}, err
	}
	if len(raw) >= len("sha256=") && strings.EqualFold(raw[:len("sha256=")], "sha256=") {
		raw = raw[len("sha256="):]
	}
	sig, err := hex.DecodeString(raw)
	if err != nil {
		return Verified{}, sigErr(sigHeaderLegacySignature, "not hex")
	}
	id, err := oneHeaderValue(h, sigHeaderIdempotencyKey)
	if err != nil {
		return Verified{}, err
	}
	if id != "" {
		if err := checkMessageID(sigHeaderIdempotencyKey, id); err != nil {
			return Verified{}, err
		}
	}
	rawTS, err := oneHeaderValue(h, sigHeaderLegacyTimestamp)
	if err != nil {
		return Verified{}, err
	}
	var ts time.Time
	prefix := ""
	if rawTS != "" {
		if ts, err = checkTimestamp(sigHeaderLegacyTimestamp, rawTS, o); err != nil {
			return Verified{}, err
		}
		prefix = rawTS + "."
	}
	for _, k := range keys {
		if len(k.Legacy) > 0 && hmac.Equal(sig, signatureMAC(k.Legacy, prefix, body)) {
			return Verified{Key: k.Name, ID: id, Scheme: SchemeLegacy, Timestamp: ts}, nil
		}
	}
	return Verified{}, sigErr(sigHeaderLegacySignature, "no signature matches")
}

// oneHeaderValue applies the exactly-one-value rule: a header sent several
// times must carry the same value each time, else it is refused rather than
// one value being picked. An absent header is "".
func oneHeaderValue(h http.Header, name string) (string, error) {
	vals := h.Values(name)
	if len(vals) == 0 {
		return "", nil
	}
	for _, v := range vals[1:] {
		if v != vals[0] {
			return "", sigErr(name, "duplicated with different values")
		}
	}
	return vals[0], nil
}

func requiredHeader(h http.Header, name string) (string, error) {
	v, err := oneHeaderValue(h, name)
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", sigErr(name, "missing")
	}
	return v, nil
}

// checkMessageID bounds ids that become idempotency keys and storage rows.
func checkMessageID(header, id string) error {
	if len(id) > maxIDLength {
		return sigErr(header, fmt.Sprintf("longer than %d characters", maxIDLength))
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return sigErr(header, "not printable ASCII")
		}
	}
	return nil
}

// checkTimestamp parses unix seconds written as plain decimal digits and
// refuses a time outside ±o.Tolerance of o.Now, stale or future alike.
func checkTimestamp(header, raw string, o VerifyOptions) (time.Time, error) {
	if len(raw) == 0 || len(raw) > maxUnixDigits || strings.Trim(raw, "0123456789") != "" {
		return time.Time{}, sigErr(header, "not an integer number of unix seconds")
	}
	sec, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return time.Time{}, sigErr(header, "not an integer number of unix seconds")
	}
	ts, now := time.Unix(sec, 0), o.Now()
	tolerance := int64(o.Tolerance / time.Second)
	if now.Sub(ts) > o.Tolerance {
		return time.Time{}, sigErr(header, fmt.Sprintf("%ds in the past, tolerance is %ds", now.Unix()-sec, tolerance))
	}
	if ts.Sub(now) > o.Tolerance {
		return time.Time{}, sigErr(header, fmt.Sprintf("%ds in the future, tolerance is %ds", sec-now.Unix(), tolerance))
	}
	return ts.UTC(), nil
}

// signatureMAC is HMAC-SHA256(key, prefix + body); the prefix carries the
// "id.timestamp." or "timestamp." part of the signed content.
func signatureMAC(key []byte, prefix string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(prefix))
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the Standard Webhooks signature "v1,<base64>" of a message,
// the value of a webhook-signature header. secret is a parsed key (see
// ParseSecret).
func Sign(secret []byte, id string, ts time.Time, body []byte) string {
	prefix := id + "." + strconv.FormatInt(ts.Unix(), 10) + "."
	return "v1," + base64.StdEncoding.EncodeToString(signatureMAC(secret, prefix, body))
}

// SignLegacy returns the compatibility scheme's "sha256=<hex>" value of
// X-Webhook-Signature. secret is the configured secret string's raw bytes.
// With a timestamp the signed content is "<unix seconds>.<body>", and the
// caller sends the same seconds as X-Webhook-Timestamp.
func SignLegacy(secret []byte, ts *time.Time, body []byte) string {
	prefix := ""
	if ts != nil {
		prefix = strconv.FormatInt(ts.Unix(), 10) + "."
	}
	return "sha256=" + hex.EncodeToString(signatureMAC(secret, prefix, body))
}

// SignedHeaders returns the three Standard Webhooks headers for a message:
// webhook-id, webhook-timestamp and webhook-signature. Outbound deliveries
// and `clorebot webhook sign` send them.
func SignedHeaders(secret []byte, id string, ts time.Time, body []byte) http.Header {
	h := make(http.Header, 3)
	h.Set(sigHeaderID, id)
	h.Set(sigHeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(sigHeaderSignature, Sign(secret, id, ts, body))
	return h
}

const messageIDAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewMessageID returns a fresh webhook-id: "msg_" and 27 random alphanumeric
// characters (about 160 bits), shaped like Standard Webhooks ids such as
// msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.
func NewMessageID() string {
	const n = 27
	id := make([]byte, 0, len("msg_")+n)
	id = append(id, "msg_"...)
	var buf [2 * n]byte
	for len(id) < cap(id) {
		rand.Read(buf[:]) // never fails since Go 1.24
		for _, b := range buf {
			// 248 = 4*62: rejecting the rest keeps every character equally likely.
			if b < 248 && len(id) < cap(id) {
				id = append(id, messageIDAlphabet[b%62])
			}
		}
	}
	return string(id)
}
