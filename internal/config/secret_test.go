package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const topSecret = "s3cr3t-VALUE-do-not-print"

func TestSecretNeverPrints(t *testing.T) {
	s := Secret(topSecret)
	type holder struct{ Token Secret }
	h := holder{Token: s}
	renders := map[string]string{
		"%v":        fmt.Sprintf("%v", s),
		"%s":        fmt.Sprintf("%s", s),
		"%q":        fmt.Sprintf("%q", s),
		"%x":        fmt.Sprintf("%x", s),
		"%+v":       fmt.Sprintf("%+v", s),
		"%#v":       fmt.Sprintf("%#v", s),
		"struct %v": fmt.Sprintf("%v", h),
		"struct+v":  fmt.Sprintf("%+v", h),
		"struct#v":  fmt.Sprintf("%#v", h),
		"pointer":   fmt.Sprintf("%v", &h),
		"String":    s.String(),
		"GoString":  s.GoString(),
		"Sprint":    fmt.Sprint(s),
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	renders["json"] = string(b)
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("msg", "token", s, "holder", h)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("msg", "token", s, "holder", h)
	renders["slog text"] = text.String()
	renders["slog json"] = js.String()
	for name, out := range renders {
		if strings.Contains(out, topSecret) {
			t.Errorf("%s shows the secret: %s", name, out)
		}
		if !strings.Contains(out, redacted) {
			t.Errorf("%s = %q, want it to contain %q", name, out, redacted)
		}
	}
	if s.Reveal() != topSecret {
		t.Errorf("Reveal() = %q", s.Reveal())
	}
}

func TestSecretEmptyIsEmpty(t *testing.T) {
	var s Secret
	for _, out := range []string{s.String(), s.GoString(), fmt.Sprintf("%v|%s|%#v", s, s, s)} {
		if strings.Contains(out, redacted) {
			t.Errorf("empty secret renders as %q", out)
		}
	}
	if text, _ := s.MarshalText(); len(text) != 0 {
		t.Errorf("MarshalText() = %q, want empty", text)
	}
}

func TestSecretUnmarshalText(t *testing.T) {
	var s Secret
	if err := s.UnmarshalText([]byte("abc")); err != nil || s.Reveal() != "abc" {
		t.Fatalf("UnmarshalText: %q, %v", s.Reveal(), err)
	}
}

func TestDurationText(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"30s", 30 * time.Second, "30s"},
		{"60s", time.Minute, "1m"},
		{"24h", 24 * time.Hour, "24h"},
		{"1h30m", 90 * time.Minute, "1h30m"},
		{"1h0m5s", time.Hour + 5*time.Second, "1h0m5s"},
		{"250ms", 250 * time.Millisecond, "250ms"},
		{"0s", 0, "0s"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d Duration
			if err := d.UnmarshalText([]byte(tt.in)); err != nil {
				t.Fatal(err)
			}
			if d.Duration != tt.want {
				t.Errorf("parsed %v, want %v", d.Duration, tt.want)
			}
			out, _ := d.MarshalText()
			if string(out) != tt.out {
				t.Errorf("MarshalText() = %q, want %q", out, tt.out)
			}
		})
	}
	var d Duration
	err := d.UnmarshalText([]byte("5x"))
	if err == nil || !strings.Contains(err.Error(), `invalid duration "5x"`) {
		t.Errorf("UnmarshalText(5x) error = %v, want it to name the value", err)
	}
}
