package config

import (
	"fmt"
	"strings"
)

// keyLines maps the keys set in a TOML document to their line numbers, as far as a
// line-by-line reading can tell: [table] headers, [[array]] headers (elements are
// numbered: "webhook.keys[1].name") and `key = value` lines. It serves error
// messages only; keys it cannot place (inside inline tables, after a multi-line
// string it misreads) are simply reported without a line.
func keyLines(doc string) map[string]int {
	lines := map[string]int{}
	elements := map[string]int{} // [[array]] name -> elements seen so far
	setOnce := func(key string, n int) {
		if _, ok := lines[key]; !ok {
			lines[key] = n
		}
	}
	prefix := ""
	inString := false
	for i, line := range strings.Split(doc, "\n") {
		n := i + 1
		t := strings.TrimSpace(line)
		if inString {
			inString = !oddTripleQuotes(t)
			continue
		}
		switch {
		case t == "" || t[0] == '#':
		case strings.HasPrefix(t, "[["):
			name := normalizeKey(between(t, "[[", "]]"))
			prefix = fmt.Sprintf("%s[%d]", name, elements[name])
			elements[name]++
			setOnce(name, n)
			setOnce(prefix, n)
		case t[0] == '[':
			prefix = normalizeKey(between(t, "[", "]"))
			setOnce(prefix, n)
		default:
			k, rest, ok := strings.Cut(t, "=")
			if !ok {
				continue
			}
			setOnce(joinKey(prefix, normalizeKey(k)), n)
			inString = oddTripleQuotes(rest)
		}
	}
	return lines
}

// between returns the text after open up to the first close.
func between(s, open, close string) string {
	s = strings.TrimPrefix(s, open)
	s, _, _ = strings.Cut(s, close)
	return s
}

// normalizeKey turns ` a . "b" ` into `a.b`.
func normalizeKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

func oddTripleQuotes(s string) bool {
	return (strings.Count(s, `"""`)+strings.Count(s, `'''`))%2 == 1
}
