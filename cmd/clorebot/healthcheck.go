package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// healthcheckCmd lets a container image without curl probe the listener.
type healthcheckCmd struct {
	URL     string        `help:"Liveness URL to probe." default:"http://127.0.0.1:8080/healthz"`
	Timeout time.Duration `help:"Give up after this long." default:"3s"`
}

// Run exits non-zero unless the URL answers 200.
func (h healthcheckCmd) Run(e *env) error {
	ctx, cancel := context.WithTimeout(e.ctx, h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", h.URL, resp.Status)
	}
	fmt.Fprintln(e.stdout, "ok")
	return nil
}
