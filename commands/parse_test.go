package commands_test

import (
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

const testSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop"

func relPtr(v float64) *float64 { return &v }

func rentCmd(a commands.RentArgs) commands.Command {
	if a.Count == 0 {
		a.Count = 1
	}
	return commands.Command{Name: "rent", Rent: &a}
}

func watchCmd(a commands.WatchArgs) commands.Command {
	return commands.Command{Name: "watch", Watch: &a}
}

// validCommands is shared by the parse, round-trip and fuzz-seed tests.
var validCommands = []struct {
	in   string
	want commands.Command
}{
	// rent: GPU spellings and count
	{"rent 4090", rentCmd(commands.RentArgs{GPU: "RTX 4090"})},
	{"/clore rent rtx4090", rentCmd(commands.RentArgs{GPU: "RTX 4090"})},
	{"  /CLORE   RENT   RTX 4090  ", rentCmd(commands.RentArgs{GPU: "RTX 4090"})},
	{"rent rtx-4090 2", rentCmd(commands.RentArgs{GPU: "RTX 4090", Count: 2})},
	{"rent rtx 3060 ti 3", rentCmd(commands.RentArgs{GPU: "RTX 3060 Ti", Count: 3})},
	{`rent "rtx 3060 ti" 16`, rentCmd(commands.RentArgs{GPU: "RTX 3060 Ti", Count: 16})},
	{"rent a100 80gb", rentCmd(commands.RentArgs{GPU: "A100 80GB"})},
	{"rent a100 80", rentCmd(commands.RentArgs{GPU: "A100 80GB"})},
	{"rent a100 80 4", rentCmd(commands.RentArgs{GPU: "A100 80GB", Count: 4})},
	{"rent h100 8", rentCmd(commands.RentArgs{GPU: "H100", Count: 8})},
	{"rent 2x 4090", rentCmd(commands.RentArgs{GPU: "RTX 4090", Count: 2})},
	{"rent 1x foo 3", rentCmd(commands.RentArgs{GPU: "foo 3"})},
	{"rent 4070 ti super", rentCmd(commands.RentArgs{GPU: "RTX 4070 Ti Super"})},
	{"rent banana", rentCmd(commands.RentArgs{GPU: "banana"})},
	// rent: flags anywhere, both forms, dashes, quotes
	{"rent --spot 4090 --max-price 0.45 2", rentCmd(commands.RentArgs{GPU: "RTX 4090", Count: 2, Spot: true, MaxPrice: 0.45})},
	{"rent 4090 --max-price=$0.45", rentCmd(commands.RentArgs{GPU: "RTX 4090", MaxPrice: 0.45})},
	{"rent 4090 —spot –hours 24", rentCmd(commands.RentArgs{GPU: "RTX 4090", Spot: true, Hours: 24})},
	{"rent 4090 --spot=false", rentCmd(commands.RentArgs{GPU: "RTX 4090"})},
	{"rent 4090 --SPOT=TRUE", rentCmd(commands.RentArgs{GPU: "RTX 4090", Spot: true})},
	{"rent 4090 --max_price 1", rentCmd(commands.RentArgs{GPU: "RTX 4090", MaxPrice: 1})},
	{"rent 4090 --hours 1.5h", rentCmd(commands.RentArgs{GPU: "RTX 4090", Hours: 1.5})},
	{"rent 4090 --hours 8760", rentCmd(commands.RentArgs{GPU: "RTX 4090", Hours: 8760})},
	{"rent 4090 --max-price 1000", rentCmd(commands.RentArgs{GPU: "RTX 4090", MaxPrice: 1000})},
	{"rent 4090 --image cloreai/ubuntu22.04-cuda-12.4", rentCmd(commands.RentArgs{GPU: "RTX 4090", Image: "cloreai/ubuntu22.04-cuda-12.4"})},
	{"rent 4090 --image nvidia/cuda:12.8.0-base-ubuntu22.04", rentCmd(commands.RentArgs{GPU: "RTX 4090", Image: "nvidia/cuda:12.8.0-base-ubuntu22.04"})},
	{"rent 4090 --image ghcr.io/org/img:v1", rentCmd(commands.RentArgs{GPU: "RTX 4090", Image: "ghcr.io/org/img:v1"})},
	{"rent 4090 --image localhost:5000/a/b@sha256:" + strings.Repeat("ab", 32), rentCmd(commands.RentArgs{GPU: "RTX 4090", Image: "localhost:5000/a/b@sha256:" + strings.Repeat("ab", 32)})},
	{`rent 4090 --ssh-key "` + testSSHKey + `"`, rentCmd(commands.RentArgs{GPU: "RTX 4090", SSHKey: testSSHKey})},
	{`rent 4090 --ssh-key=“` + testSSHKey + `”`, rentCmd(commands.RentArgs{GPU: "RTX 4090", SSHKey: testSSHKey})},
	{`rent 4090 --ssh-key '` + strings.Replace(testSSHKey, " ", "   ", 1) + `'`, rentCmd(commands.RentArgs{GPU: "RTX 4090", SSHKey: testSSHKey})},
	{"rent 4090 --currency USDT", rentCmd(commands.RentArgs{GPU: "RTX 4090", Currency: "USD-Blockchain"})},
	{"rent 4090 --currency clore", rentCmd(commands.RentArgs{GPU: "RTX 4090", Currency: "CLORE-Blockchain"})},
	{"rent 4090 --currency BTC", rentCmd(commands.RentArgs{GPU: "RTX 4090", Currency: "bitcoin"})},
	{"rent 4090 --currency usd-blockchain", rentCmd(commands.RentArgs{GPU: "RTX 4090", Currency: "USD-Blockchain"})},
	{"rent 4090 --min-reliability 0.9", rentCmd(commands.RentArgs{GPU: "RTX 4090", MinReliability: relPtr(0.9)})},
	{"rent 4090 --min-reliability 95%", rentCmd(commands.RentArgs{GPU: "RTX 4090", MinReliability: relPtr(0.95)})},
	{"rent 4090 --min-reliability 0", rentCmd(commands.RentArgs{GPU: "RTX 4090", MinReliability: relPtr(0)})},
	{"rent 4090 --min-reliability 1", rentCmd(commands.RentArgs{GPU: "RTX 4090", MinReliability: relPtr(1)})},
	{"rent\u00a04090\t--spot\n", rentCmd(commands.RentArgs{GPU: "RTX 4090", Spot: true})},
	// cancel, status
	{"cancel 12345", commands.Command{Name: "cancel", Cancel: &commands.CancelArgs{OrderID: 12345}}},
	{"CANCEL #12345", commands.Command{Name: "cancel", Cancel: &commands.CancelArgs{OrderID: 12345}}},
	{"cancel 9007199254740992", commands.Command{Name: "cancel", Cancel: &commands.CancelArgs{OrderID: 1 << 53}}},
	{"status", commands.Command{Name: "status", Status: &commands.StatusArgs{}}},
	{"status all", commands.Command{Name: "status", Status: &commands.StatusArgs{}}},
	{"Status #7", commands.Command{Name: "status", Status: &commands.StatusArgs{OrderID: 7}}},
	// watch
	{"watch 4090 0.40", watchCmd(commands.WatchArgs{Action: "create", GPU: "RTX 4090", MaxPrice: 0.4, Count: 1})},
	{"watch rtx 3060 ti $0.10 --auto-rent --count 4 --for 1d12h", watchCmd(commands.WatchArgs{
		Action: "create", GPU: "RTX 3060 Ti", MaxPrice: 0.1, AutoRent: true, Count: 4, For: 36 * time.Hour})},
	{"watch --for 90d h100 sxm 2.5", watchCmd(commands.WatchArgs{Action: "create", GPU: "H100 SXM", MaxPrice: 2.5, Count: 1, For: 90 * 24 * time.Hour})},
	{"watch a100 1 --for 12h30m", watchCmd(commands.WatchArgs{Action: "create", GPU: "A100", MaxPrice: 1, Count: 1, For: 12*time.Hour + 30*time.Minute})},
	{"watch a100 1 --for 1.5D", watchCmd(commands.WatchArgs{Action: "create", GPU: "A100", MaxPrice: 1, Count: 1, For: 36 * time.Hour})},
	{"watch a100 1000", watchCmd(commands.WatchArgs{Action: "create", GPU: "A100", MaxPrice: 1000, Count: 1})},
	{"watch list", watchCmd(commands.WatchArgs{Action: "list"})},
	{"watch LIST", watchCmd(commands.WatchArgs{Action: "list"})},
	{"watch cancel #7", watchCmd(commands.WatchArgs{Action: "cancel", WatchID: 7})},
	// market, help
	{"market", commands.Command{Name: "market", Market: &commands.MarketArgs{}}},
	{"market all", commands.Command{Name: "market", Market: &commands.MarketArgs{}}},
	{"market rtx 4090", commands.Command{Name: "market", Market: &commands.MarketArgs{GPU: "RTX 4090"}}},
	{"market a100", commands.Command{Name: "market", Market: &commands.MarketArgs{GPU: "A100"}}},
	{"help", commands.Command{Name: "help", Help: &commands.HelpArgs{}}},
	{"Help RENT", commands.Command{Name: "help", Help: &commands.HelpArgs{Topic: "rent"}}},
	{"--help", commands.Command{Name: "help", Help: &commands.HelpArgs{}}},
	{"rent 4090 --help", commands.Command{Name: "help", Help: &commands.HelpArgs{Topic: "rent"}}},
	{"watch -h", commands.Command{Name: "help", Help: &commands.HelpArgs{Topic: "watch"}}},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validCommands {
		t.Run(tc.in, func(t *testing.T) {
			got, err := commands.Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse(%q)\n got %s\nwant %s", tc.in, dumpCommand(got), dumpCommand(tc.want))
			}
		})
	}
}

func dumpCommand(c commands.Command) string {
	s := c.Name
	if c.Rent != nil {
		r, rel := *c.Rent, "nil"
		if r.MinReliability != nil {
			rel = fmt.Sprint(*r.MinReliability)
		}
		r.MinReliability = nil
		s += fmt.Sprintf(" %+v MinReliability=%s", r, rel)
	}
	for _, v := range []any{c.Cancel, c.Status, c.Watch, c.Market, c.Help} {
		if !reflect.ValueOf(v).IsNil() {
			s += fmt.Sprintf(" %+v", v)
		}
	}
	return s
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// invalidCommands are inputs that Parse rejects: the command the error
// concerns and what its Problem must mention.
var invalidCommands = []struct {
	in      string
	command string   // UsageError.Command, "" for no known command
	want    []string // substrings of Problem
}{
	{"", "", []string{"no command"}},
	{"   /clore   ", "", []string{"no command"}},
	{"rnet 4090", "", []string{`"rnet"`, "did you mean rent?"}},
	{"satus", "", []string{`"satus"`, "did you mean status?"}},
	{"deploy 4090", "", []string{`"deploy"`}},
	{strings.Repeat("a", 4097), "", []string{"too long", "4097"}},
	{"rent " + strings.Repeat("a", 4097), "rent", []string{"too long"}},
	{"rent \xff", "rent", []string{"UTF-8"}},
	{"rent 'rtx 4090", "rent", []string{"unterminated quote", "'"}},
	{`rent 4090 --ssh-key "ssh-ed25519 AAAA`, "rent", []string{"unterminated quote"}},
	{"rent 4090 \x07", "rent", []string{"control character", "U+0007"}},
	{"rent \"4090\x1b[31m\"", "rent", []string{"control character", "U+001B"}},
	// rent
	{"rent", "rent", []string{"needs a GPU"}},
	{"rent --spot", "rent", []string{"needs a GPU"}},
	{"rent 2x", "rent", []string{"needs a GPU"}},
	{"rent 4090 32", "rent", []string{"count", `"32"`, "1 to 16"}},
	{"rent 4090 0", "rent", []string{"count", `"0"`}},
	{"rent 4090 -2", "rent", []string{"count", `"-2"`}},
	{"rent 20x 4090", "rent", []string{"count", `"20x"`}},
	{"rent 4090 @home", "rent", []string{"GPU name", `"4090 @home"`}},
	{"rent " + strings.Repeat("x", 65), "rent", []string{"GPU name is too long", "65"}},
	{"rent 4090 --sopt", "rent", []string{`"--sopt"`, "did you mean --spot?", "--max-price", "--min-reliability"}},
	{"rent 4090 --auto-rent", "rent", []string{`"--auto-rent"`}},
	{"rent 4090 -spot", "rent", []string{`"-spot"`, `"--"`, "did you mean --spot?"}},
	{"rent 4090 --", "rent", []string{`"--"`, "flag name"}},
	{"rent 4090 --spot --spot", "rent", []string{"--spot", "twice"}},
	{"rent 4090 --spot --spot=false", "rent", []string{"--spot", "twice"}},
	{"rent 4090 --max-price 1 --max_price 2", "rent", []string{"--max-price", "twice"}},
	{"rent 4090 --spot=maybe", "rent", []string{"--spot", `"maybe"`}},
	{"rent 4090 --image", "rent", []string{"--image", "needs a value"}},
	{"rent 4090 --image=", "rent", []string{"--image", "needs a value"}},
	{"rent 4090 --image --spot", "rent", []string{"--image", "needs a value"}},
	{"rent 4090 --max-price", "rent", []string{"--max-price", "needs a value"}},
	{"rent 4090 --max-price abc", "rent", []string{"--max-price", "USD per GPU per hour", `"abc"`}},
	{"rent 4090 --max-price -1", "rent", []string{"--max-price", `"-1"`}},
	{"rent 4090 --max-price 0", "rent", []string{"--max-price", `"0"`}},
	{"rent 4090 --max-price NaN", "rent", []string{"--max-price", `"NaN"`}},
	{"rent 4090 --max-price Inf", "rent", []string{"--max-price", `"Inf"`}},
	{"rent 4090 --max-price 0x1p-2", "rent", []string{"--max-price", `"0x1p-2"`}},
	{"rent 4090 --max-price 1e309", "rent", []string{"--max-price", `"1e309"`}},
	{"rent 4090 --max-price 1_0", "rent", []string{"--max-price", `"1_0"`}},
	{"rent 4090 --max-price 0,45", "rent", []string{"--max-price", `"0,45"`}},
	{"rent 4090 --max-price 1000.01", "rent", []string{"--max-price", "at most 1000", `"1000.01"`}},
	{"rent 4090 --hours 0", "rent", []string{"--hours", `"0"`}},
	{"rent 4090 --hours 8761", "rent", []string{"--hours", "8760", `"8761"`}},
	{"rent 4090 --hours -3", "rent", []string{"--hours", `"-3"`}},
	{"rent 4090 --image Nvidia/CUDA", "rent", []string{"--image", `"Nvidia/CUDA"`, "lower-case"}},
	{"rent 4090 --image nvidia/cuda:", "rent", []string{"--image", `"nvidia/cuda:"`}},
	{"rent 4090 --image 'nvidia cuda'", "rent", []string{"--image", `"nvidia cuda"`}},
	{"rent 4090 --image a@sha256:abc", "rent", []string{"--image"}},
	{"rent 4090 --image " + strings.Repeat("a", 257), "rent", []string{"--image", "too long", "257"}},
	{"rent 4090 --ssh-key AAAAC3NzaC1lZDI1NTE5", "rent", []string{"--ssh-key", "ssh-ed25519"}},
	{"rent 4090 --ssh-key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqq", "rent", []string{"--ssh-key", "in quotes", `"ssh-ed25519"`}},
	{`rent 4090 --ssh-key "ssh-ed25519 not!base64!at!all"`, "rent", []string{"--ssh-key", "base64"}},
	{`rent 4090 --ssh-key "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA"`, "rent", []string{"--ssh-key", "private key"}},
	{`rent 4090 --ssh-key "ssh-rsa ` + strings.Repeat("A", 3100) + `"`, "rent", []string{"--ssh-key", "too long"}},
	{"rent 4090 --currency eth", "rent", []string{"--currency", `"eth"`, "usd, clore or btc"}},
	{"rent 4090 --min-reliability 95", "rent", []string{"--min-reliability", `"95"`, "95%"}},
	{"rent 4090 --min-reliability 101%", "rent", []string{"--min-reliability", `"101%"`}},
	{"rent 4090 --min-reliability -0.5", "rent", []string{"--min-reliability", `"-0.5"`}},
	// cancel, status
	{"cancel", "cancel", []string{"needs an order id"}},
	{"cancel abc", "cancel", []string{"order id", `"abc"`}},
	{"cancel 0", "cancel", []string{"order id", `"0"`}},
	{"cancel -5", "cancel", []string{"order id", `"-5"`}},
	{"cancel 0x10", "cancel", []string{"order id", `"0x10"`}},
	{"cancel 9007199254740993", "cancel", []string{"order id", `"9007199254740993"`}},
	{"cancel 99999999999999999999", "cancel", []string{"order id"}},
	{"cancel 1 2", "cancel", []string{"extra argument", `"2"`}},
	{"cancel 1 --spot", "cancel", []string{"cancel takes no flags", `"--spot"`}},
	{"status 1 2", "status", []string{"extra argument", `"2"`}},
	{"status x", "status", []string{"order id", `"x"`}},
	// watch
	{"watch", "watch", []string{"needs a GPU", "max price"}},
	{"watch 4090", "watch", []string{"needs a GPU", `"4090"`}},
	{"watch rtx 4090", "watch", []string{"needs a max price", "rtx 4090"}},
	{"watch 4090 abc", "watch", []string{"max price", `"abc"`}},
	{"watch 4090 0", "watch", []string{"max price", `"0"`}},
	{"watch 4090 1001", "watch", []string{"max price", "at most 1000", `"1001"`}},
	{"watch 4090 -1", "watch", []string{"max price", `"-1"`}},
	{"watch 4090 0.4 --count 17", "watch", []string{"--count", `"17"`}},
	{"watch 4090 0.4 --count two", "watch", []string{"--count", `"two"`}},
	{"watch 4090 0.4 --for 91d", "watch", []string{"--for", `"91d"`, "90d"}},
	{"watch 4090 0.4 --for 2161h", "watch", []string{"--for", `"2161h"`}},
	{"watch 4090 0.4 --for -1h", "watch", []string{"--for", `"-1h"`}},
	{"watch 4090 0.4 --for 0", "watch", []string{"--for", `"0"`}},
	{"watch 4090 0.4 --for soon", "watch", []string{"--for", `"soon"`}},
	{"watch 4090 0.4 --for 99999999999999h", "watch", []string{"--for"}},
	{"watch 4090 0.4 --spot", "watch", []string{`"--spot"`, "--auto-rent"}},
	{"watch 4090 0.4 --auto-rent=yes", "watch", []string{"--auto-rent", `"yes"`}},
	{"watch list 5", "watch", []string{"extra argument", `"5"`}},
	{"watch list --count 2", "watch", []string{"watch list takes no flags", "--count"}},
	{"watch cancel", "watch", []string{"needs a watch id"}},
	{"watch cancel x", "watch", []string{"watch id", `"x"`}},
	{"watch cancel 1 2", "watch", []string{"extra argument", `"2"`}},
	{"watch cancel 1 --for 1h", "watch", []string{"takes no flags", "--for"}},
	// market, help
	{"market rtx/4090", "market", []string{"GPU name", `"rtx/4090"`}},
	{"market " + strings.Repeat("a ", 40), "market", []string{"too long"}},
	{"market 4090 --spot", "market", []string{"market takes --history"}},
	{"help rnt", "help", []string{`"rnt"`, "did you mean rent?"}},
	{"help rent cancel", "help", []string{"extra argument", `"cancel"`}},
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range invalidCommands {
		name := tc.in
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			c, err := commands.Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want an error", tc.in, c)
			}
			ue, ok := errors.AsType[*commands.UsageError](err)
			if !ok {
				t.Fatalf("Parse(%q) error %T, want *commands.UsageError", tc.in, err)
			}
			if ue.Command != tc.command {
				t.Errorf("Command = %q, want %q", ue.Command, tc.command)
			}
			if want := commands.Usage(tc.command); ue.Usage != want {
				t.Errorf("Usage = %q, want %q", ue.Usage, want)
			}
			for _, w := range tc.want {
				if !strings.Contains(ue.Problem, w) {
					t.Errorf("Problem %q does not contain %q", ue.Problem, w)
				}
			}
			if got, want := err.Error(), ue.Problem+"\nUsage: "+ue.Usage; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
			if !reflect.DeepEqual(c, commands.Command{}) {
				t.Errorf("Parse returned %+v with an error, want the zero Command", c)
			}
		})
	}
}

// TestParseErrorShowsValueSafely checks that offending values are cut to
// about 40 characters and that unprintable characters are escaped.
func TestParseErrorShowsValueSafely(t *testing.T) {
	long := strings.Repeat("x", 500)
	_, err := commands.Parse("rent 4090 --image " + long)
	ue, _ := errors.AsType[*commands.UsageError](err)
	if ue == nil || strings.Contains(ue.Problem, strings.Repeat("x", 41)) || !strings.Contains(ue.Problem, "…") {
		t.Fatalf("long value not cut: %v", err)
	}
	_, err = commands.Parse("rent 4090 --image \"a\u202eb\"")
	ue, _ = errors.AsType[*commands.UsageError](err)
	if ue == nil || strings.ContainsRune(ue.Problem, '\u202e') {
		t.Fatalf("invisible character not rejected or escaped: %v", err)
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, tc := range validCommands {
		t.Run(tc.in, func(t *testing.T) {
			c, err := commands.Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			text := c.String()
			again, err := commands.Parse(text)
			if err != nil {
				t.Fatalf("Parse(%q) (String of %q): %v", text, tc.in, err)
			}
			if !reflect.DeepEqual(again, c) {
				t.Fatalf("round trip of %q via %q:\n got %s\nwant %s", tc.in, text, dumpCommand(again), dumpCommand(c))
			}
			if again.String() != text {
				t.Fatalf("String not stable: %q then %q", text, again.String())
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rent 4090", "rent RTX 4090"},
		{"rent 2x rtx4090 --spot", "rent RTX 4090 2 --spot"},
		{"rent --min-reliability 95% a100 80 --currency btc --hours 24 --image nvidia/cuda:12.8.0-base-ubuntu22.04 --max-price $1.50",
			"rent A100 80GB --max-price 1.5 --image nvidia/cuda:12.8.0-base-ubuntu22.04 --hours 24 --currency bitcoin --min-reliability 0.95"},
		{`rent 4090 --ssh-key '` + testSSHKey + `'`, `rent RTX 4090 --ssh-key "` + testSSHKey + `"`},
		{"rent 1x foo 3", "rent 1x foo 3"},
		{"rent 1x 2x foo", "rent 1x 2x foo"},
		{"rent 3x 2x", "rent 3x 2x"},
		{"rent 5", "rent 5"},
		{"rent 1x 5 2", "rent 1x 5 2"},
		{"cancel #12", "cancel 12"},
		{"status", "status"},
		{"status 7", "status 7"},
		{"watch h100 $2 --for 36h --count 1 --auto-rent", "watch H100 2 --auto-rent --for 1d12h"},
		{"watch 4090 0.3 --for 90m --count 2", "watch RTX 4090 0.3 --count 2 --for 1h30m"},
		{"watch 4090 0.3 --for 1.5s", "watch RTX 4090 0.3 --for 1s500ms"},
		{"watch list", "watch list"},
		{"watch cancel #3", "watch cancel 3"},
		{"market", "market"},
		{"market l40s", "market L40S"},
		{"help", "help"},
		{"help WATCH", "help watch"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			c, err := commands.Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAuditStringHidesSSHKey(t *testing.T) {
	longImage := "registry.example.com/" + strings.Repeat("a", 200) + ":v1"
	c, err := commands.Parse(`rent 4090 --spot --image ` + longImage + ` --ssh-key "` + testSSHKey + `"`)
	if err != nil {
		t.Fatal(err)
	}
	got := c.AuditString()
	for _, secret := range []string{testSSHKey, "AAAAC3NzaC1lZDI1NTE5", "alice@laptop", strings.Repeat("a", 100)} {
		if strings.Contains(got, secret) {
			t.Errorf("AuditString %q contains %q", got, secret)
		}
	}
	if !strings.Contains(got, "--ssh-key <ssh-key>") || !strings.HasPrefix(got, "rent RTX 4090 --spot --image registry.example.com/") {
		t.Errorf("AuditString = %q", got)
	}
	if !strings.Contains(c.String(), testSSHKey) {
		t.Errorf("String %q lost the key", c.String())
	}
	plain, _ := commands.Parse("watch 4090 0.4")
	if plain.AuditString() != plain.String() {
		t.Errorf("AuditString %q differs from String %q without secrets", plain.AuditString(), plain.String())
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  a  b\tc\n", []string{"a", "b", "c"}},
		{`a "b c" d`, []string{"a", "b c", "d"}},
		{`a 'b "c" d'`, []string{"a", `b "c" d`}},
		{`"say \"hi\" \\ \n"`, []string{`say "hi" \ \n`}},
		{`x=“smart quotes” ‘single’`, []string{"x=smart quotes", "single"}},
		{"`back tick`", []string{"back tick"}},
		{`--image="a b"c`, []string{"--image=a bc"}},
		{`"" ''`, []string{"", ""}},
		{"—spot –hours a—b", []string{"--spot", "--hours", "a—b"}},
		{`"—spot"`, []string{"—spot"}},
		{"a\u200bb", []string{"a", "b"}},
		{`back\slash`, []string{`back\slash`}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := commands.Tokenize(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Tokenize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	for _, in := range []string{`"open`, `'open`, `“open`, "`open", `it's`, `"esc\"`, "a\x00b", "\"tab\tin quotes\"", "\xff"} {
		if got, err := commands.Tokenize(in); err == nil {
			t.Errorf("Tokenize(%q) = %q, want an error", in, got)
		} else if _, ok := errors.AsType[*commands.UsageError](err); !ok {
			t.Errorf("Tokenize(%q) error %T, want *UsageError", in, err)
		}
	}
}

func TestUsage(t *testing.T) {
	all := commands.Usage("")
	for _, name := range []string{"rent", "cancel", "status", "watch", "market", "help"} {
		u := commands.Usage(name)
		if !strings.HasPrefix(u, name+" ") || !strings.Contains(all, u) {
			t.Errorf("Usage(%q) = %q, not in %q", name, u, all)
		}
		if commands.Usage(strings.ToUpper(name)) != u {
			t.Errorf("Usage is case-sensitive for %q", name)
		}
	}
	if !strings.Contains(commands.Usage("watch"), "watch list | watch cancel <watch-id>") {
		t.Errorf("Usage(watch) = %q", commands.Usage("watch"))
	}
	if commands.Usage("nope") != all {
		t.Errorf("Usage of an unknown command should list every command")
	}
}

func TestHelpText(t *testing.T) {
	overview := commands.HelpText("")
	for _, want := range []string{"rent", "cancel", "status", "watch", "market", "help", "USD per GPU per hour"} {
		if !strings.Contains(overview, want) {
			t.Errorf("overview lacks %q:\n%s", want, overview)
		}
	}
	if commands.HelpText("bogus") != overview {
		t.Errorf("unknown topic should give the overview")
	}
	rent := commands.HelpText("RENT")
	for _, want := range []string{
		commands.Usage("rent"), "--max-price", "USD per GPU per hour", "--spot", "on-demand", "--image", "--hours",
		"--ssh-key", "--currency", "--min-reliability", "default 1", "confirm threshold", "Examples:",
	} {
		if !strings.Contains(rent, want) {
			t.Errorf("help rent lacks %q:\n%s", want, rent)
		}
	}
	for _, name := range []string{"cancel", "status", "watch", "market", "help"} {
		h := commands.HelpText(name)
		if !strings.Contains(h, "Usage: "+strings.SplitN(commands.Usage(name), "\n", 2)[0]) || !strings.Contains(h, "Examples:") {
			t.Errorf("help %s:\n%s", name, h)
		}
	}
}

// TestHelpExamplesParse keeps the examples in the help honest.
func TestHelpExamplesParse(t *testing.T) {
	for _, name := range []string{"rent", "cancel", "status", "watch", "market", "help"} {
		_, examples, ok := strings.Cut(commands.HelpText(name), "Examples:\n")
		if !ok {
			t.Fatalf("help %s has no examples", name)
		}
		for _, line := range strings.Split(examples, "\n") {
			if ex := strings.TrimSpace(line); ex != "" {
				if _, err := commands.Parse(ex); err != nil {
					t.Errorf("example %q of help %s: %v", ex, name, err)
				}
			}
		}
	}
}

// TestParseLinearTime feeds worst-case 4 KB inputs: parsing must stay well
// under a millisecond and grow linearly with the input.
func TestParseLinearTime(t *testing.T) {
	shapes := map[string]func(n int) string{
		"words":   func(n int) string { return "rent " + strings.Repeat("a ", (n-6)/2) },
		"quotes":  func(n int) string { return "rent " + strings.Repeat(`"a"`, (n-6)/3) },
		"escapes": func(n int) string { return `rent "` + strings.Repeat(`\"`, n/2-8) + `"` },
		"flags":   func(n int) string { return "rent 4090" + strings.Repeat(" --x", n/4-4) },
		"dashes":  func(n int) string { return "rent 4090 " + strings.Repeat("—", n/3-4) },
		"gpu":     func(n int) string { return "market " + strings.Repeat("x", n-8) },
		"watch":   func(n int) string { return "watch " + strings.Repeat("1", n-10) + " 1" },
		"smart":   func(n int) string { return "rent “" + strings.Repeat("’", n/3-4) + "”" },
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			small, big := shape(1024), shape(4096)
			if len(big) > 4096 {
				t.Fatalf("input is %d bytes", len(big))
			}
			tBig := minParseTime(big)
			tSmall := minParseTime(small)
			if tBig > parseTimeLimit() {
				t.Errorf("parsing %d bytes took %v", len(big), tBig)
			}
			// Linear growth is 4x; quadratic would be 16x. Allow noise.
			if tBig > 10*tSmall && tBig > 50*time.Microsecond {
				t.Errorf("4 KB took %v, 1 KB %v: not linear", tBig, tSmall)
			}
		})
	}
}

func minParseTime(text string) time.Duration {
	best := time.Hour
	for range 20 {
		start := time.Now()
		_, _ = commands.Parse(text)
		best = min(best, time.Since(start))
	}
	return best
}

// parseTimeLimit is a guard against pathological inputs, not a performance
// figure (BenchmarkParseRent is): 40x the typical worst case, more under the
// race detector, so that a loaded CI machine does not fail it.
func parseTimeLimit() time.Duration {
	if raceEnabled() {
		return 50 * time.Millisecond
	}
	return 5 * time.Millisecond
}

func BenchmarkParseRent(b *testing.B) {
	const text = `/clore rent rtx 4090 2 --max-price $0.45 --spot --image nvidia/cuda:12.8.0-base-ubuntu22.04 --hours 24 --currency usd --min-reliability 95%`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := commands.Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}
