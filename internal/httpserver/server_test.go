package httpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthReadyAndUnknownRoutes(t *testing.T) {
	failing := false
	s := New(Options{
		Checks: []Check{{Name: "storage", Probe: func(context.Context) error {
			if failing {
				return errors.New("disk gone")
			}
			return nil
		}}},
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "up 1\n") }),
	})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	get := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		method, path string
		status       int
		contains     string
	}{
		{"GET", "/healthz", 200, `"ok"`},
		{"GET", "/health", 200, `"ok"`},
		{"GET", "/readyz", 200, `"storage":"ok"`},
		{"GET", "/metrics", 200, "up 1"},
		{"GET", "/nope", 404, "no route"},
		{"POST", "/healthz", 405, ""},
	}
	for _, tt := range tests {
		status, body := get(tt.method, tt.path)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("%s %s = %d %q", tt.method, tt.path, status, body)
		}
	}
	failing = true
	if status, body := get("GET", "/readyz"); status != 503 || !strings.Contains(body, `"storage":"failing"`) || strings.Contains(body, "disk gone") {
		t.Errorf("failing readyz = %d %q", status, body)
	}
}

// A degraded check keeps /readyz at 200 and says so; a failing one wins.
func TestReadyDegraded(t *testing.T) {
	var market, storage error
	s := New(Options{Checks: []Check{
		{Name: "storage", Probe: func(context.Context) error { return storage }},
		{Name: "marketplace", Probe: func(context.Context) error { return market }},
	}})
	tests := []struct {
		name            string
		storage, market error
		status          int
		body            []string
	}{
		{"ready", nil, nil, 200, []string{`"status":"ready"`, `"marketplace":"ok"`}},
		{"degraded", nil, fmt.Errorf("%w: refresh failing: clore down", ErrDegraded), 200,
			[]string{`"status":"degraded"`, `"marketplace":"degraded"`, `"storage":"ok"`}},
		{"failing and degraded", errors.New("disk gone"), fmt.Errorf("%w: clore down", ErrDegraded), 503,
			[]string{`"status":"not ready"`, `"marketplace":"degraded"`, `"storage":"failing"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storage, market = tt.storage, tt.market
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
			body := w.Body.String()
			if w.Code != tt.status || strings.Contains(body, "clore down") || strings.Contains(body, "disk gone") {
				t.Errorf("readyz = %d %s; want %d without the errors' text", w.Code, body, tt.status)
			}
			for _, want := range tt.body {
				if !strings.Contains(body, want) {
					t.Errorf("readyz body %s lacks %s", body, want)
				}
			}
		})
	}
}

func TestEveryServerTimeoutIsSet(t *testing.T) {
	s := New(Options{Addr: "127.0.0.1:0"})
	if s.srv.ReadHeaderTimeout <= 0 || s.srv.ReadTimeout <= 0 || s.srv.WriteTimeout <= 0 || s.srv.IdleTimeout <= 0 {
		t.Errorf("timeouts: %+v", s.srv)
	}
}
