package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clorebot/clorebot/bot/webhook"
	"github.com/clorebot/clorebot/internal/config"
)

// webhookCmds groups the helpers for inbound webhooks.
type webhookCmds struct {
	Sign webhookSignCmd `cmd:"" help:"Print the signature headers and a curl line for a request body, signed with a configured key."`
}

// webhookSignCmd signs a body as a webhook caller would.
type webhookSignCmd struct {
	Key    string `required:"" placeholder:"NAME" help:"Name of the key in webhook.keys to sign with."`
	Legacy bool   `help:"Sign with the compatibility scheme (X-Webhook-Signature, X-Webhook-Timestamp, Idempotency-Key) instead of Standard Webhooks."`
	Path   string `default:"/webhook/command" placeholder:"PATH" help:"Route of the curl line; GET routes (/webhook/jobs/ID, /webhook/marketplace) sign the empty body."`
	File   string `arg:"" optional:"" default:"-" help:"File holding the JSON body, or - for standard input."`

	// stdin is read for "-"; nil means os.Stdin. Tests set it.
	stdin io.Reader
}

// Run prints the headers, then a curl line that sends the signed request to
// the configured listener. The signature holds for webhook.tolerance.
func (c webhookSignCmd) Run(e *env) error {
	cfg, err := e.loadWithoutClore()
	if err != nil {
		return err
	}
	key, err := c.findKey(cfg)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(c.Path, "/webhook/") {
		return &usageError{fmt.Errorf("--path %s: want a route under /webhook/, e.g. /webhook/create-order", strconv.Quote(c.Path))}
	}
	method := "POST"
	if c.Path == "/webhook/marketplace" || strings.HasPrefix(c.Path, "/webhook/jobs/") {
		method = "GET"
	}
	var body []byte
	if method == "POST" {
		if body, err = c.readBody(e.stderr); err != nil {
			return err
		}
	} else if c.File != "-" {
		return &usageError{fmt.Errorf("%s is a GET route: it signs the empty body, give no FILE", c.Path)}
	}
	now := time.Now()
	headers := c.headers(key, now, body)
	for _, h := range headers {
		fmt.Fprintf(e.stdout, "%s: %s\n", h[0], h[1])
	}
	fmt.Fprintln(e.stdout)
	fmt.Fprintln(e.stdout, c.curl(method, listenURL(cfg.HTTP.Listen)+c.Path, headers, body))
	fmt.Fprintf(e.stderr, "signed at %s with key %s; the listener accepts it until %s (webhook.tolerance)\n",
		now.UTC().Format(time.RFC3339), key.Name, now.Add(cfg.Webhook.Tolerance.Duration).UTC().Format(time.RFC3339))
	return nil
}

// findKey returns the configured key named by --key; an unknown name is a
// usage error that lists the configured names (never a secret).
func (c webhookSignCmd) findKey(cfg *config.Config) (webhook.Key, error) {
	var names []string
	for _, k := range cfg.Webhook.Keys {
		if k.Name == c.Key {
			key, err := webhook.ConfiguredKey(k.Name, k.Secret.Reveal())
			if err != nil {
				return webhook.Key{}, &usageError{err}
			}
			return key, nil
		}
		names = append(names, k.Name)
	}
	known := "none is configured ([[webhook.keys]] in the configuration file)"
	if len(names) > 0 {
		slices.Sort(names)
		known = "configured: " + strings.Join(names, ", ")
	}
	return webhook.Key{}, &usageError{fmt.Errorf("--key %s: no such key in webhook.keys; %s", strconv.Quote(c.Key), known)}
}

// readBody reads FILE or standard input, refusing what the listener would.
func (c webhookSignCmd) readBody(stderr io.Writer) ([]byte, error) {
	var r io.Reader
	if c.File == "-" {
		r = c.stdin
		if r == nil {
			r = os.Stdin
			if isTerminal(os.Stdin) {
				// Never wait silently: say what is expected (Ctrl-C exits at once).
				fmt.Fprintln(stderr, "reading the request body from the terminal; end it with Ctrl-D (or give a FILE)")
			}
		}
	} else {
		f, err := os.Open(c.File)
		if err != nil {
			return nil, &usageError{fmt.Errorf("read the body: %w", err)}
		}
		defer f.Close()
		r = f
	}
	body, err := io.ReadAll(io.LimitReader(r, webhook.MaxBodyBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read the body: %w", err)
	case len(body) > webhook.MaxBodyBytes:
		return nil, &usageError{errors.New("the body is larger than 1 MiB: the listener would refuse it")}
	}
	return body, nil
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// headers signs the body: Standard Webhooks, or the compatibility scheme.
func (c webhookSignCmd) headers(key webhook.Key, now time.Time, body []byte) [][2]string {
	id := webhook.NewMessageID()
	if c.Legacy {
		return [][2]string{
			{"X-Webhook-Timestamp", strconv.FormatInt(now.Unix(), 10)},
			{"X-Webhook-Signature", webhook.SignLegacy(key.Legacy, &now, body)},
			{"Idempotency-Key", id},
		}
	}
	h := webhook.SignedHeaders(key.Secret, id, now, body)
	var out [][2]string
	for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		out = append(out, [2]string{name, h.Get(name)})
	}
	return out
}

// curl is a ready command line: the file itself for a FILE, the body quoted
// inline for standard input.
func (c webhookSignCmd) curl(method, url string, headers [][2]string, body []byte) string {
	parts := []string{"curl", "-sS", "-X", method, shellQuote(url)}
	if method == "POST" {
		parts = append(parts, "-H", shellQuote("content-type: application/json"))
	}
	for _, h := range headers {
		parts = append(parts, "-H", shellQuote(h[0]+": "+h[1]))
	}
	if method == "POST" {
		if c.File == "-" {
			parts = append(parts, "--data-binary", shellQuote(string(body)))
		} else {
			parts = append(parts, "--data-binary", shellQuote("@"+c.File))
		}
	}
	return strings.Join(parts, " ")
}

// listenURL is the base URL a local client reaches the listener at.
func listenURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://localhost:8080"
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
