package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clorebot/clorebot/storage/storagetest"
)

// onBackend adds to args the -storage-url of the PostgreSQL server that
// CLOREBOT_TEST_POSTGRES_URL names, if any: the run then creates its own
// database there (and drops it) instead of a SQLite file.
func onBackend(args ...string) []string {
	if u := os.Getenv(storagetest.EnvURL); u != "" {
		return append(args, "-storage-url", u)
	}
	return args
}

// A short run of the load tool, so that it keeps working: every run answers,
// and the accepted create-orders are durable jobs.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the sandbox")
	}
	var out bytes.Buffer
	if err := run(context.Background(), onBackend("-duration", "800ms", "-concurrency", "2"), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"signed create-order  api", "bad signature        bare", "max", "ratio api/bare", "durable: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "errors×") {
		t.Errorf("transport errors:\n%s", out.String())
	}
}

func TestFlagsAreBounded(t *testing.T) {
	for _, args := range [][]string{{"-duration", "2m"}, {"-duration", "0s"}, {"-concurrency", "0"}, {"-concurrency", "1000"}, {"extra"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("run %v = %v, want a usage error", args, err)
		}
	}
}

// -cpuprofile writes one profile per slice of the API's signed run.
func TestProfilePerSlice(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the sandbox")
	}
	prefix := filepath.Join(t.TempDir(), "cpu.prof")
	if err := run(context.Background(), onBackend("-duration", "400ms", "-concurrency", "2", "-cpuprofile", prefix), &bytes.Buffer{}); err != nil {
		t.Fatalf("run: %v", err)
	}
	for k := range interleave {
		if st, err := os.Stat(fmt.Sprintf("%s.%d", prefix, k)); err != nil || st.Size() == 0 {
			t.Errorf("profile of slice %d: %v", k, err)
		}
	}
}
