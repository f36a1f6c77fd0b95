package discordbot

import (
	"strings"
	"testing"
)

// Whatever a host, Clore or a user writes, escapeMarkdown leaves no
// character that opens formatting, a link, a mention or a timestamp
// unescaped, and no "://" that Discord would turn into a link.
func FuzzEscapeMarkdown(f *testing.F) {
	for _, s := range []string{"[free](https://evil.example)", "<@1002> <t:0:R> @everyone", "**b** __u__ ~~s~~ ||x|| `c`",
		"# h\n-# s\n- l\n> q\n1. o", `\[x](y) \\[x](y)`, "a://b", "ünï [cødé](x)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := escapeMarkdown(s)
		if strings.Contains(out, "://") {
			t.Fatalf("%q -> %q keeps an autolink", s, out)
		}
		backslashes := 0
		for i := 0; i < len(out); i++ {
			c := out[i]
			if strings.IndexByte("*_~`|<>[]", c) >= 0 && backslashes%2 == 0 {
				t.Fatalf("%q -> %q leaves %q at %d unescaped", s, out, c, i)
			}
			if c == '\\' {
				backslashes++
			} else {
				backslashes = 0
			}
		}
		if strings.ReplaceAll(unescape(out), "\\", "") != strings.ReplaceAll(s, "\\", "") {
			t.Fatalf("%q -> %q does not read back", s, out)
		}
	})
}

// unescape drops the backslash of each escape, as Discord shows the text.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && !isAlnumByte(s[i+1]) && s[i+1] != ' ' {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isAlnumByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
