package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// healthcheckCmd lets a container image without curl probe the listener.
type healthcheckCmd struct {
	URL     string        `help:"Liveness URL to probe (default: /healthz on http.listen of the configuration, on loopback when it listens on every address)."`
	Timeout time.Duration `help:"Give up after this long." default:"3s"`
}

// Run exits non-zero unless the URL answers 200.
func (h healthcheckCmd) Run(e *env) error {
	url := h.URL
	if url == "" {
		cfg, err := e.loadWithoutClore()
		if err != nil {
			return err
		}
		if url, err = healthURL(cfg.HTTP.Listen); err != nil {
			return &usageError{err}
		}
	}
	ctx, cancel := context.WithTimeout(e.ctx, h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	fmt.Fprintln(e.stdout, "ok")
	return nil
}

// healthURL is the liveness URL of a listener on addr (http.listen): a
// wildcard or empty host is probed on loopback.
func healthURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("healthcheck: http.listen %q: %w", listen, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
