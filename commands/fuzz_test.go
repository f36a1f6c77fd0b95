package commands_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/clorebot/clorebot/commands"
)

var fuzzSeeds = []string{
	"",
	"/clore",
	"help",
	"help rent",
	"rent 4090",
	"rent rtx 3060 ti 2 --spot",
	"rent a100 80gb 4 --max-price $1.60 --hours 24 --currency clore",
	"rent 2x h100 sxm --image nvidia/cuda:12.8.0-base-ubuntu22.04 --min-reliability 95%",
	`rent 4090 --ssh-key "` + testSSHKey + `"`,
	`rent 4090 --ssh-key “ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ a\"b”`,
	"rent 4090 —spot –hours=1.5",
	"rent 1x foo 3",
	"rent 4090 32",
	"rent 4090 --max-price 1e309",
	"rent 4090 --max-price NaN",
	"rent 4090 --spot=maybe",
	"rent 4090 --spot --spot",
	"rent 4090 --image Nvidia/CUDA",
	"rent 'unterminated",
	"rent \x00",
	"rnet 4090",
	"cancel #12345",
	"cancel -1",
	"status",
	"status 9007199254740993",
	"watch 4090 0.40 --auto-rent --count 2 --for 1d12h",
	"watch list",
	"watch cancel 7",
	"watch rtx 4090",
	"watch 4090 0.4 --for 91d",
	"market",
	"market a100",
	"market rtx/4090",
	`"" '' ""`,
	"rent \"a\\",
}

// FuzzParse: Parse never panics; every error is a *UsageError with a
// problem and a usage; every success round-trips through String, and its
// AuditString never holds the SSH key; parsing stays fast.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, tc := range validCommands {
		f.Add(tc.in)
	}
	for _, tc := range invalidCommands {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, text string) {
		start := time.Now()
		c, err := commands.Parse(text)
		if elapsed := time.Since(start); elapsed > parseTimeLimit() && len(text) <= 4096 {
			if again := minParseTime(text); again > parseTimeLimit() {
				t.Errorf("Parse of %d bytes took %v", len(text), again)
			}
		}
		if err != nil {
			ue, ok := errors.AsType[*commands.UsageError](err)
			if !ok {
				t.Fatalf("Parse(%q) error %T %v, want *UsageError", text, err, err)
			}
			if ue.Problem == "" || ue.Usage == "" || ue.Usage != commands.Usage(ue.Command) {
				t.Fatalf("Parse(%q) gave an incomplete UsageError %+v", text, ue)
			}
			if !utf8.ValidString(ue.Problem) {
				t.Fatalf("Parse(%q) problem is not UTF-8: %q", text, ue.Problem)
			}
			return
		}
		checkRoundTrip(t, text, c)
	})
}

func checkRoundTrip(t *testing.T, text string, c commands.Command) {
	t.Helper()
	s := c.String()
	again, err := commands.Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q) ok, but its String %q fails: %v", text, s, err)
	}
	if !reflect.DeepEqual(again, c) {
		t.Fatalf("round trip of %q via %q:\n got %s\nwant %s", text, s, dumpCommand(again), dumpCommand(c))
	}
	if c.Rent != nil && c.Rent.SSHKey != "" && strings.Contains(c.AuditString(), c.Rent.SSHKey) {
		t.Fatalf("AuditString %q holds the SSH key", c.AuditString())
	}
}

// FuzzNormalizeGPU: NormalizeGPU is idempotent and MatchGPU finds a model
// named by the normalised query.
func FuzzNormalizeGPU(f *testing.F) {
	for _, s := range []string{"4090", "rtx 3060 ti", "a100 80", "h100", "6000 ada", "l40s", "banana", "2x", "4090 32", "A100-SXM4-80GB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n := commands.NormalizeGPU(q)
		if again := commands.NormalizeGPU(n); again != n {
			t.Fatalf("NormalizeGPU(%q) = %q, then %q", q, n, again)
		}
		if n == "" {
			return
		}
		if got := commands.MatchGPU(q, []string{n}); len(got) != 1 || got[0] != n {
			t.Fatalf("MatchGPU(%q, [%q]) = %q", q, n, got)
		}
	})
}

// FuzzTokenize: Tokenize never panics and fails only with a *UsageError;
// any token it returns, put into a quoted value (an SSH key's comment),
// survives Parse and String's quoting.
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{`a "b c"`, `'x' “y z” \`, "—a –b", `"\\\""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		tokens, err := commands.Tokenize(text)
		if err != nil {
			if _, ok := errors.AsType[*commands.UsageError](err); !ok {
				t.Fatalf("Tokenize(%q) error %T", text, err)
			}
			return
		}
		for _, tok := range tokens {
			if tok == "" {
				continue
			}
			key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA " + tok
			c, err := commands.Parse(`rent 4090 --ssh-key "` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `“`, `\“`, `”`, `\”`, `„`, `\„`).Replace(key) + `"`)
			if err != nil {
				continue // e.g. the token is a private key marker or too long
			}
			checkRoundTrip(t, text, c)
		}
	})
}
