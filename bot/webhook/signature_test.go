package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The tests compute expected signatures with this helper, not with Sign, so
// that a mistake shared by Sign and Verify cannot hide.
func testMAC(key []byte, content string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(content))
	return m.Sum(nil)
}

func testV1(key []byte, content string) string {
	return "v1," + base64.StdEncoding.EncodeToString(testMAC(key, content))
}

func testHex(key []byte, content string) string {
	return hex.EncodeToString(testMAC(key, content))
}

// testHeader builds a header from name/value pairs; a name given twice gets
// two values.
func testHeader(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func mustParseSecret(t testing.TB, s string) []byte {
	t.Helper()
	key, err := ParseSecret(s)
	if err != nil {
		t.Fatalf("ParseSecret: %v", err)
	}
	return key
}

func testKey(t testing.TB, name, secret string) Key {
	t.Helper()
	return Key{Name: name, Secret: mustParseSecret(t, secret), Legacy: []byte(secret)}
}

func randomWhsec(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

var (
	testNow    = time.Unix(1_700_000_000, 0)
	testTS     = "1700000000"
	testWhsec  = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	testWhsec2 = "whsec_" + base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	testRaw    = "raw-shared-secret-without-prefix"
	testBody   = []byte(`{"gpu_type":"RTX 4090","count":1}`)
	testID     = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
)

type verifyCase struct {
	name   string
	header http.Header
	body   []byte
	keys   []Key // nil: the primary key only
	legacy bool

	want       Verified // when errHeader is empty
	errHeader  string
	errProblem string // a substring of SignatureError.Problem
}

func verifyCases(t *testing.T) []verifyCase {
	primary := testKey(t, "zapier", testWhsec)
	secondary := testKey(t, "zapier-next", testWhsec2)
	raw := testKey(t, "cron", testRaw)
	k1, k2 := primary.Secret, secondary.Secret
	content := testID + "." + testTS + "." + string(testBody)
	std := func(id, ts, sig string) http.Header {
		return testHeader(sigHeaderID, id, sigHeaderTimestamp, ts, sigHeaderSignature, sig)
	}
	at := func(d time.Duration) string { return strconv.FormatInt(testNow.Add(d).Unix(), 10) }
	contentAt := func(d time.Duration) string { return testID + "." + at(d) + "." + string(testBody) }
	legacyKey := primary.Legacy
	okStd := Verified{Key: "zapier", ID: testID, Scheme: SchemeStandard, Timestamp: testNow}

	return []verifyCase{
		{name: "valid standard", header: std(testID, testTS, testV1(k1, content)), want: okStd},
		{name: "rotation: second of two signatures matches",
			header: std(testID, testTS, testV1(k2, content)+" "+testV1(k1, content)), want: okStd},
		{name: "rotation: two configured keys, signed with the new one", keys: []Key{primary, secondary},
			header: std(testID, testTS, testV1(k2, content)),
			want:   Verified{Key: "zapier-next", ID: testID, Scheme: SchemeStandard, Timestamp: testNow}},
		{name: "v1a entry ignored beside a valid v1",
			header: std(testID, testTS, "v1a,"+base64.StdEncoding.EncodeToString(make([]byte, 64))+" "+testV1(k1, content)), want: okStd},
		{name: "repeated header with identical values", want: okStd,
			header: testHeader(sigHeaderID, testID, sigHeaderID, testID, sigHeaderTimestamp, testTS, sigHeaderSignature, testV1(k1, content))},
		{name: "timestamp 4 min in the past is within tolerance", header: std(testID, at(-4*time.Minute), testV1(k1, contentAt(-4*time.Minute))),
			want: Verified{Key: "zapier", ID: testID, Scheme: SchemeStandard, Timestamp: testNow.Add(-4 * time.Minute)}},
		{name: "raw secret without whsec_", keys: []Key{primary, raw}, header: std(testID, testTS, testV1([]byte(testRaw), content)),
			want: Verified{Key: "cron", ID: testID, Scheme: SchemeStandard, Timestamp: testNow}},
		{name: "legacy header ignored when webhook-signature is present", legacy: true, want: okStd,
			header: testHeader(sigHeaderID, testID, sigHeaderTimestamp, testTS, sigHeaderSignature, testV1(k1, content),
				sigHeaderLegacySignature, "00")},

		{name: "wrong secret", header: std(testID, testTS, testV1(k2, content)), errHeader: sigHeaderSignature, errProblem: "no signature matches"},
		{name: "body tampered", header: std(testID, testTS, testV1(k1, content)), body: []byte(`{"gpu_type":"H100","count":8}`),
			errHeader: sigHeaderSignature, errProblem: "no signature matches"},
		{name: "id tampered", header: std("msg_other", testTS, testV1(k1, content)), errHeader: sigHeaderSignature, errProblem: "no signature matches"},
		{name: "timestamp tampered", header: std(testID, at(time.Second), testV1(k1, content)), errHeader: sigHeaderSignature, errProblem: "no signature matches"},
		{name: "stale by 6 minutes", header: std(testID, at(-6*time.Minute), testV1(k1, contentAt(-6*time.Minute))),
			errHeader: sigHeaderTimestamp, errProblem: "360s in the past, tolerance is 300s"},
		{name: "6 minutes in the future", header: std(testID, at(6*time.Minute), testV1(k1, contentAt(6*time.Minute))),
			errHeader: sigHeaderTimestamp, errProblem: "360s in the future, tolerance is 300s"},
		{name: "timestamp not a number", header: std(testID, "yesterday", testV1(k1, content)), errHeader: sigHeaderTimestamp, errProblem: "not an integer"},
		{name: "timestamp with decimals", header: std(testID, testTS+".5", testV1(k1, content)), errHeader: sigHeaderTimestamp, errProblem: "not an integer"},
		{name: "negative timestamp", header: std(testID, "-"+testTS, testV1(k1, content)), errHeader: sigHeaderTimestamp, errProblem: "not an integer"},
		{name: "missing webhook-id", header: testHeader(sigHeaderTimestamp, testTS, sigHeaderSignature, testV1(k1, content)),
			errHeader: sigHeaderID, errProblem: "missing"},
		{name: "missing webhook-timestamp", header: testHeader(sigHeaderID, testID, sigHeaderSignature, testV1(k1, content)),
			errHeader: sigHeaderTimestamp, errProblem: "missing"},
		{name: "missing webhook-signature", header: testHeader(sigHeaderID, testID, sigHeaderTimestamp, testTS),
			errHeader: sigHeaderSignature, errProblem: "missing"},
		{name: "no headers at all, legacy on", header: http.Header{}, legacy: true,
			errHeader: sigHeaderSignature, errProblem: "missing (and no X-Webhook-Signature either)"},
		{name: "duplicated webhook-signature", errHeader: sigHeaderSignature, errProblem: "duplicated",
			header: testHeader(sigHeaderID, testID, sigHeaderTimestamp, testTS, sigHeaderSignature, testV1(k1, content), sigHeaderSignature, testV1(k2, content))},
		{name: "duplicated webhook-id with different values", errHeader: sigHeaderID, errProblem: "duplicated",
			header: testHeader(sigHeaderID, testID, sigHeaderID, "msg_other", sigHeaderTimestamp, testTS, sigHeaderSignature, testV1(k1, content))},
		{name: "signature not base64", header: std(testID, testTS, "v1,not*base64!"), errHeader: sigHeaderSignature, errProblem: "not base64"},
		{name: "v2 only", header: std(testID, testTS, "v2,"+base64.StdEncoding.EncodeToString(testMAC(k1, content))),
			errHeader: sigHeaderSignature, errProblem: "no v1 signature"},
		{name: "empty signature list", header: std(testID, testTS, "   "), errHeader: sigHeaderSignature, errProblem: "no v1 signature"},
		{name: "overlong id", header: std(strings.Repeat("m", 257), testTS, testV1(k1, strings.Repeat("m", 257)+"."+testTS+"."+string(testBody))),
			errHeader: sigHeaderID, errProblem: "longer than 256"},
		{name: "id with a control character", header: std("msg_\x01", testTS, testV1(k1, "msg_\x01."+testTS+"."+string(testBody))),
			errHeader: sigHeaderID, errProblem: "not printable ASCII"},
		{name: "key with an empty secret never verifies", keys: []Key{{Name: "empty"}},
			header: std(testID, testTS, testV1(nil, content)), errHeader: sigHeaderSignature, errProblem: "no signature matches"},
		{name: "no keys configured", keys: []Key{}, header: std(testID, testTS, testV1(k1, content)),
			errHeader: sigHeaderSignature, errProblem: "no signature matches"},

		{name: "legacy hex lower case", legacy: true, header: testHeader(sigHeaderLegacySignature, testHex(legacyKey, string(testBody))),
			want: Verified{Key: "zapier", Scheme: SchemeLegacy}},
		{name: "legacy hex upper case", legacy: true, header: testHeader(sigHeaderLegacySignature, strings.ToUpper(testHex(legacyKey, string(testBody)))),
			want: Verified{Key: "zapier", Scheme: SchemeLegacy}},
		{name: "legacy sha256= form", legacy: true, header: testHeader(sigHeaderLegacySignature, "sha256="+testHex(legacyKey, string(testBody))),
			want: Verified{Key: "zapier", Scheme: SchemeLegacy}},
		{name: "legacy key is the whsec_ string as written, not its decoding", legacy: true,
			header: testHeader(sigHeaderLegacySignature, testHex(k1, string(testBody))), errHeader: sigHeaderLegacySignature, errProblem: "no signature matches"},
		{name: "legacy raw secret", legacy: true, keys: []Key{primary, raw}, header: testHeader(sigHeaderLegacySignature, testHex([]byte(testRaw), string(testBody))),
			want: Verified{Key: "cron", Scheme: SchemeLegacy}},
		{name: "legacy with timestamp", legacy: true,
			header: testHeader(sigHeaderLegacySignature, "sha256="+testHex(legacyKey, testTS+"."+string(testBody)), sigHeaderLegacyTimestamp, testTS),
			want:   Verified{Key: "zapier", Scheme: SchemeLegacy, Timestamp: testNow}},
		{name: "legacy with timestamp, signed without it", legacy: true,
			header:    testHeader(sigHeaderLegacySignature, testHex(legacyKey, string(testBody)), sigHeaderLegacyTimestamp, testTS),
			errHeader: sigHeaderLegacySignature, errProblem: "no signature matches"},
		{name: "legacy stale timestamp", legacy: true,
			header:    testHeader(sigHeaderLegacySignature, testHex(legacyKey, at(-6*time.Minute)+"."+string(testBody)), sigHeaderLegacyTimestamp, at(-6*time.Minute)),
			errHeader: sigHeaderLegacyTimestamp, errProblem: "360s in the past, tolerance is 300s"},
		{name: "legacy when Legacy is off", header: testHeader(sigHeaderLegacySignature, testHex(legacyKey, string(testBody))),
			errHeader: sigHeaderSignature, errProblem: "missing"},
		{name: "legacy wrong secret", legacy: true, header: testHeader(sigHeaderLegacySignature, testHex([]byte("not-the-secret"), string(testBody))),
			errHeader: sigHeaderLegacySignature, errProblem: "no signature matches"},
		{name: "legacy non-hex", legacy: true, header: testHeader(sigHeaderLegacySignature, "sha256=zz"+testHex(legacyKey, string(testBody))[2:]),
			errHeader: sigHeaderLegacySignature, errProblem: "not hex"},
		{name: "legacy Idempotency-Key carried to ID", legacy: true,
			header: testHeader(sigHeaderLegacySignature, testHex(legacyKey, string(testBody)), sigHeaderIdempotencyKey, "zap-run-42"),
			want:   Verified{Key: "zapier", ID: "zap-run-42", Scheme: SchemeLegacy}},
		{name: "legacy overlong Idempotency-Key", legacy: true,
			header:    testHeader(sigHeaderLegacySignature, testHex(legacyKey, string(testBody)), sigHeaderIdempotencyKey, strings.Repeat("k", 257)),
			errHeader: sigHeaderIdempotencyKey, errProblem: "longer than 256"},
		{name: "legacy duplicated signature", legacy: true,
			header:    testHeader(sigHeaderLegacySignature, testHex(legacyKey, string(testBody)), sigHeaderLegacySignature, "00"),
			errHeader: sigHeaderLegacySignature, errProblem: "duplicated"},
	}
}

func TestVerify(t *testing.T) {
	cases := verifyCases(t)
	if len(cases) < 25 {
		t.Fatalf("only %d cases", len(cases))
	}
	defaultKeys := []Key{testKey(t, "zapier", testWhsec)}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys := c.keys
			if keys == nil {
				keys = defaultKeys
			}
			body := c.body
			if body == nil {
				body = testBody
			}
			got, err := Verify(c.header, body, keys, VerifyOptions{Legacy: c.legacy, Now: func() time.Time { return testNow }})
			if c.errHeader != "" {
				var se *SignatureError
				if !errors.As(err, &se) {
					t.Fatalf("Verify = %+v, %v; want a *SignatureError", got, err)
				}
				if se.Header != c.errHeader || !strings.Contains(se.Problem, c.errProblem) {
					t.Errorf("error %q; want header %q and a problem containing %q", err, c.errHeader, c.errProblem)
				}
				if got != (Verified{}) {
					t.Errorf("Verify returned %+v beside its error", got)
				}
				assertNoLeak(t, err.Error(), keys, c.header, body)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			assertVerified(t, got, c.want)
		})
	}
}

func assertVerified(t *testing.T, got, want Verified) {
	t.Helper()
	if got.Key != want.Key || got.ID != want.ID || got.Scheme != want.Scheme || !got.Timestamp.Equal(want.Timestamp) {
		t.Errorf("Verify = %+v; want %+v", got, want)
	}
	if !got.Timestamp.IsZero() && got.Timestamp.Location() != time.UTC {
		t.Errorf("Timestamp in %v; want UTC", got.Timestamp.Location())
	}
}

// assertNoLeak fails when an error text contains a key's secret in any
// configured form or the signature Verify expected for this request.
func assertNoLeak(t testing.TB, msg string, keys []Key, h http.Header, body []byte) {
	t.Helper()
	id, ts := h.Get(sigHeaderID), h.Get(sigHeaderTimestamp)
	lts := h.Get(sigHeaderLegacyTimestamp)
	var secrets []string
	for _, k := range keys {
		secrets = append(secrets, string(k.Legacy), string(k.Secret),
			base64.StdEncoding.EncodeToString(k.Secret), strings.TrimPrefix(string(k.Legacy), "whsec_"))
		for _, key := range [][]byte{k.Secret, k.Legacy} {
			secrets = append(secrets,
				base64.StdEncoding.EncodeToString(testMAC(key, id+"."+ts+"."+string(body))),
				testHex(key, string(body)), testHex(key, lts+"."+string(body)))
		}
	}
	lower := strings.ToLower(msg)
	for _, s := range secrets {
		if len(s) >= 8 && (strings.Contains(msg, s) || strings.Contains(lower, strings.ToLower(s))) {
			t.Fatalf("error %q leaks secret material %q", msg, s)
		}
	}
}

func TestSignatureErrorText(t *testing.T) {
	k := testKey(t, "zapier", testWhsec)
	h := SignedHeaders(k.Secret, testID, testNow.Add(-412*time.Second), testBody)
	_, err := Verify(h, testBody, []Key{k}, VerifyOptions{Now: func() time.Time { return testNow }})
	if err == nil || err.Error() != "webhook-timestamp: 412s in the past, tolerance is 300s" {
		t.Errorf("err = %v", err)
	}
	h = testHeader(sigHeaderLegacySignature, "xyz")
	_, err = Verify(h, testBody, []Key{k}, VerifyOptions{Legacy: true})
	if err == nil || err.Error() != "X-Webhook-Signature: not hex" {
		t.Errorf("err = %v", err)
	}
}

func TestVerifyCustomTolerance(t *testing.T) {
	k := testKey(t, "zapier", testWhsec)
	h := SignedHeaders(k.Secret, testID, testNow.Add(-2*time.Minute), testBody)
	o := VerifyOptions{Tolerance: time.Minute, Now: func() time.Time { return testNow }}
	_, err := Verify(h, testBody, []Key{k}, o)
	if err == nil || err.Error() != "webhook-timestamp: 120s in the past, tolerance is 60s" {
		t.Errorf("err = %v", err)
	}
	o.Tolerance = 3 * time.Minute
	if _, err := Verify(h, testBody, []Key{k}, o); err != nil {
		t.Errorf("within a 3 min tolerance: %v", err)
	}
}

func TestParseSecret(t *testing.T) {
	cases := []struct {
		name    string
		secret  string
		want    []byte
		wantErr bool
	}{
		{name: "whsec_ base64", secret: testWhsec, want: []byte("0123456789abcdef0123456789abcdef")},
		{name: "whsec_ unpadded base64", secret: "whsec_" + base64.RawStdEncoding.EncodeToString([]byte("ab")), want: []byte("ab")},
		{name: "raw secret", secret: testRaw, want: []byte(testRaw)},
		{name: "upper-case prefix is a raw secret", secret: "WHSEC_abc", want: []byte("WHSEC_abc")},
		{name: "whsec_ bad base64", secret: "whsec_not*base64!secret", wantErr: true},
		{name: "whsec_ and nothing", secret: "whsec_", wantErr: true},
		{name: "empty", secret: "", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseSecret(c.secret)
			if c.wantErr {
				if err == nil {
					t.Fatalf("ParseSecret = %q; want an error", got)
				}
				if rest := strings.TrimPrefix(c.secret, "whsec_"); rest != "" && strings.Contains(err.Error(), rest) {
					t.Errorf("error %q quotes the secret", err)
				}
				return
			}
			if err != nil || string(got) != string(c.want) {
				t.Errorf("ParseSecret = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// TestSignKnownAnswer uses the test vector of the Standard Webhooks spec.
func TestSignKnownAnswer(t *testing.T) {
	// The spec's key, built from its bytes so that no token-like literal
	// sits in the tree.
	specKey, _ := hex.DecodeString("31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0")
	key := mustParseSecret(t, "whsec_"+base64.StdEncoding.EncodeToString(specKey))
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %q; want %q", got, want)
	}
}

func TestSignRoundTrip(t *testing.T) {
	k := testKey(t, "zapier", testWhsec)
	now := func() time.Time { return testNow }
	h := SignedHeaders(k.Secret, testID, testNow, testBody)
	if h.Get("webhook-id") != testID || h.Get("webhook-timestamp") != testTS || h.Get("webhook-signature") != testV1(k.Secret, testID+"."+testTS+"."+string(testBody)) {
		t.Errorf("SignedHeaders = %v", h)
	}
	got, err := Verify(h, testBody, []Key{k}, VerifyOptions{Now: now})
	if err != nil {
		t.Fatalf("Verify(SignedHeaders): %v", err)
	}
	assertVerified(t, got, Verified{Key: "zapier", ID: testID, Scheme: SchemeStandard, Timestamp: testNow})

	if got, want := SignLegacy(k.Legacy, nil, testBody), "sha256="+testHex(k.Legacy, string(testBody)); got != want {
		t.Errorf("SignLegacy(nil) = %q; want %q", got, want)
	}
	ts := testNow
	lh := testHeader(sigHeaderLegacySignature, SignLegacy(k.Legacy, &ts, testBody), sigHeaderLegacyTimestamp, testTS)
	got, err = Verify(lh, testBody, []Key{k}, VerifyOptions{Legacy: true, Now: now})
	if err != nil {
		t.Fatalf("Verify(SignLegacy): %v", err)
	}
	assertVerified(t, got, Verified{Key: "zapier", Scheme: SchemeLegacy, Timestamp: testNow})
}

func TestNewMessageID(t *testing.T) {
	shape := regexp.MustCompile(`^msg_[0-9A-Za-z]{27}$`)
	seen := make(map[string]bool)
	for range 1000 {
		id := NewMessageID()
		if !shape.MatchString(id) {
			t.Fatalf("NewMessageID = %q", id)
		}
		if seen[id] {
			t.Fatalf("NewMessageID repeated %q", id)
		}
		seen[id] = true
	}
}

// TestReferenceSignsWeVerify: messages signed by the Standard Webhooks
// reference library verify with Verify.
func TestReferenceSignsWeVerify(t *testing.T) {
	bodies := [][]byte{testBody, {}, []byte("not json at all \x00\xff"), []byte(strings.Repeat("x", 64<<10))}
	for i, body := range bodies {
		secret := randomWhsec(t)
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		id, ts := NewMessageID(), time.Unix(1_700_000_000+int64(i)*3600, 0)
		sig, err := wh.Sign(id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set(standardwebhooks.HeaderWebhookID, id)
		h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(standardwebhooks.HeaderWebhookSignature, sig)
		keys := []Key{testKey(t, "other", randomWhsec(t)), testKey(t, "ref", secret)}
		got, err := Verify(h, body, keys, VerifyOptions{Now: func() time.Time { return ts.Add(time.Minute) }})
		if err != nil {
			t.Fatalf("body %d: Verify of a reference signature: %v", i, err)
		}
		assertVerified(t, got, Verified{Key: "ref", ID: id, Scheme: SchemeStandard, Timestamp: ts})
	}
}

// TestWeSignReferenceVerifies: headers from SignedHeaders verify with the
// reference library, for whsec_ and raw secrets.
func TestWeSignReferenceVerifies(t *testing.T) {
	whsec := randomWhsec(t)
	byString, err := standardwebhooks.NewWebhook(whsec)
	if err != nil {
		t.Fatal(err)
	}
	byRaw, err := standardwebhooks.NewWebhookRaw([]byte(testRaw))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		secret string
		ref    *standardwebhooks.Webhook
	}{
		{"whsec_ secret", whsec, byString},
		{"raw secret", testRaw, byRaw},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := mustParseSecret(t, c.secret)
			for _, body := range [][]byte{testBody, {}, []byte(strings.Repeat("é", 1000))} {
				h := SignedHeaders(key, NewMessageID(), time.Now(), body)
				if err := c.ref.Verify(body, h); err != nil {
					t.Errorf("reference Verify of SignedHeaders: %v", err)
				}
				if err := c.ref.Verify(append([]byte("x"), body...), h); err == nil {
					t.Error("reference Verify accepted a tampered body")
				}
			}
		})
	}
}

// FuzzVerify feeds arbitrary headers and bodies to Verify: it must never
// panic, every refusal must be a *SignatureError that leaks nothing, and a
// success must be a signature that an independent computation confirms.
// A header value containing "\n" is sent as several values.
func FuzzVerify(f *testing.F) {
	whsecKey := testKey(f, "zapier", testWhsec)
	rawKey := testKey(f, "cron", testRaw)
	keys := []Key{whsecKey, rawKey}
	content := testID + "." + testTS + "." + string(testBody)
	f.Add(testID, testTS, testV1(whsecKey.Secret, content), testBody, "", "", "", false)
	f.Add(testID, testTS, "v1a,xx "+testV1(rawKey.Secret, content), testBody, "", "", "", false)
	f.Add(testID, testTS+"\n"+testTS, testV1(whsecKey.Secret, content), testBody, "", "", "", true)
	f.Add("", "", "", testBody, "sha256="+testHex(whsecKey.Legacy, string(testBody)), "", "idem-1", true)
	f.Add("", "", "", testBody, strings.ToUpper(testHex(rawKey.Legacy, testTS+"."+string(testBody))), testTS, "", true)
	f.Add("x", "1.5", "v1,!!", []byte{}, "zz", "-1", "\x00", true)
	f.Add(strings.Repeat("i", 300), "99999999999999999999", "v2,AAAA", []byte("{}"), "", "", "", false)

	now := func() time.Time { return testNow }
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte, lsig, lts, idem string, legacy bool) {
		h := http.Header{}
		for name, v := range map[string]string{
			sigHeaderID: id, sigHeaderTimestamp: ts, sigHeaderSignature: sig,
			sigHeaderLegacySignature: lsig, sigHeaderLegacyTimestamp: lts, sigHeaderIdempotencyKey: idem,
		} {
			if v != "" {
				h[textproto.CanonicalMIMEHeaderKey(name)] = strings.Split(v, "\n")
			}
		}
		got, err := Verify(h, body, keys, VerifyOptions{Legacy: legacy, Now: now})
		if err != nil {
			var se *SignatureError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SignatureError", err)
			}
			assertNoLeak(t, err.Error(), keys, h, body)
			return
		}
		confirmValid(t, got, h, body, keys, legacy)
	})
}

// confirmValid recomputes, independently of Verify, that a request it
// accepted carries a genuine signature by the key it named.
func confirmValid(t *testing.T, got Verified, h http.Header, body []byte, keys []Key, legacy bool) {
	t.Helper()
	var key Key
	for _, k := range keys {
		if k.Name == got.Key {
			key = k
		}
	}
	inTolerance := func(raw string) bool {
		sec, err := strconv.ParseInt(raw, 10, 64)
		d := time.Unix(sec, 0).Sub(testNow)
		return err == nil && d <= DefaultTolerance && d >= -DefaultTolerance
	}
	switch got.Scheme {
	case SchemeStandard:
		id, ts := h.Get(sigHeaderID), h.Get(sigHeaderTimestamp)
		want := testV1(key.Secret, id+"."+ts+"."+string(body))
		if !inTolerance(ts) || got.ID != id || !slices.Contains(strings.Fields(h.Get(sigHeaderSignature)), want) {
			t.Fatalf("Verify accepted %v as %+v", h, got)
		}
	case SchemeLegacy:
		if !legacy || len(h.Values(sigHeaderSignature)) > 0 {
			t.Fatalf("legacy scheme used with Legacy=%v and headers %v", legacy, h)
		}
		content := string(body)
		if ts := h.Get(sigHeaderLegacyTimestamp); ts != "" {
			if !inTolerance(ts) {
				t.Fatalf("Verify accepted stale %v", h)
			}
			content = ts + "." + content
		}
		sig := strings.ToLower(h.Get(sigHeaderLegacySignature))
		if strings.TrimPrefix(sig, "sha256=") != testHex(key.Legacy, content) || got.ID != h.Get(sigHeaderIdempotencyKey) {
			t.Fatalf("Verify accepted %v as %+v", h, got)
		}
	default:
		t.Fatalf("unknown scheme in %+v", got)
	}
}

func BenchmarkVerify(b *testing.B) {
	k := testKey(b, "zapier", testWhsec)
	body := []byte(strings.Repeat("a", 1024))
	h := SignedHeaders(k.Secret, testID, testNow, body)
	o := VerifyOptions{Now: func() time.Time { return testNow }}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(h, body, []Key{k}, o); err != nil {
			b.Fatal(err)
		}
	}
}
