package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
	"github.com/clorebot/clorebot/storage"
)

// exec market --history gives the points in JSON and, with --chart, writes
// the PNG; --chart on a reply without a chart fails, a bad window is a
// usage error.
func TestExecMarketHistoryChart(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.OpenAndMigrate(context.Background(), testDB(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 120 {
		v := 0.4 - 0.001*float64(i)
		if err := st.RecordPrices(context.Background(), now.Add(-time.Duration(120-i)*time.Minute),
			[]commands.PriceSample{{Model: "RTX 4090", MinUSD: v, AvgUSD: v, Samples: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "4090.png")
	code, out, stderr := run(t, dir, fastSandbox, "exec", "--sandbox", "market", "4090", "--history", "24h", "--chart", file, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	var reply execLine
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &reply); err != nil || reply.Type != "reply" {
		t.Fatalf("first line %q: %v", out, err)
	}
	if len(reply.History) != 1 || reply.History[0].Model != "RTX 4090" || len(reply.History[0].Points) != 120 {
		t.Fatalf("history %+v", reply.History)
	}
	if strings.Contains(out, "PNG") {
		t.Error("the picture's bytes are in the JSON")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() != 800 || img.Bounds().Dy() != 400 {
		t.Fatalf("chart file: %v %v", err, img.Bounds())
	}
	// No chart in the reply: --chart fails and writes nothing.
	other := filepath.Join(dir, "none.png")
	if code, out, stderr := run(t, dir, fastSandbox, "exec", "--sandbox", "--chart", other, "market", "4090"); code != exitFailure ||
		!strings.Contains(stderr, "has no chart") {
		t.Fatalf("--chart without history: exit %d\n%s\n%s", code, out, stderr)
	}
	if _, err := os.Stat(other); err == nil {
		t.Error("a file was written for a reply without a chart")
	}
	if code, out, _ := run(t, dir, fastSandbox, "exec", "--sandbox", "market", "4090", "--history", "5y"); code == 0 ||
		!strings.Contains(out, "--history takes 24h, 7d or 30d") || !strings.Contains(out, "market [gpu] [--history 24h|7d|30d]") {
		t.Fatalf("--history 5y: exit %d\n%s", code, out)
	}
}
