package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const exampleFile = "../../config.example.toml"

func readExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExampleDecodesToDefaults(t *testing.T) {
	got := Config{} // start empty, so every default must come from the file
	if err := decodeFile(&got, exampleFile, []byte(readExample(t))); err != nil {
		t.Fatal(err)
	}
	if want := Defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("config.example.toml decodes to\n%+v\nwant Defaults()\n%+v", got, want)
	}
}

func TestExampleDocumentsEveryKey(t *testing.T) {
	doc := readExample(t)
	lines := keyLines(doc)
	for _, f := range fields() {
		if f.Tables {
			if !strings.Contains(doc, "# [["+f.Key+"]]") {
				t.Errorf("config.example.toml lacks a commented-out [[%s]] example", f.Key)
			}
			continue
		}
		n, ok := lines[f.Key]
		if !ok {
			t.Errorf("config.example.toml lacks %s", f.Key)
			continue
		}
		if f.Secret && !strings.Contains(commentAbove(doc, n), "SECRET") {
			t.Errorf("config.example.toml line %d: %s is a secret; its comment should say SECRET", n, f.Key)
		}
	}
}

// TestExampleTableArrays uncomments the [[webhook.keys]] and [[webhook.subscribers]]
// examples and checks that they load and validate.
func TestExampleTableArrays(t *testing.T) {
	commented := regexp.MustCompile(`(?m)^# ((?:\[\[webhook\.\w+\]\])|(?:\w+ = .*))$`)
	uncommented := commented.ReplaceAllString(readExample(t), "$1")
	c, err := loadTOML(t, uncommented, sandboxEnv)
	if err != nil {
		t.Fatalf("uncommented example: %v", err)
	}
	if len(c.Webhook.Keys) != 1 || len(c.Webhook.Subscribers) != 1 {
		t.Fatalf("uncommented example: keys %+v, subscribers %+v", c.Webhook.Keys, c.Webhook.Subscribers)
	}
}

func TestExampleMentionsEnvironment(t *testing.T) {
	doc := readExample(t)
	for _, want := range []string{"CLOREBOT_<SECTION>_<KEY>", "_FILE", "CLOREBOT_CLORE_API_KEY"} {
		if !strings.Contains(doc, want) {
			t.Errorf("config.example.toml does not mention %s", want)
		}
	}
}

// commentAbove returns the comment lines right above line n (1-based).
func commentAbove(doc string, n int) string {
	lines := strings.Split(doc, "\n")
	var out []string
	for i := n - 2; i >= 0 && strings.HasPrefix(lines[i], "#"); i-- {
		out = append(out, lines[i])
	}
	return strings.Join(out, "\n")
}
