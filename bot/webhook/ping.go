package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// EventTestPing is the event `clorebot deliveries test` and `doctor --send`
// send to check a receiver; it is never queued.
const EventTestPing = "test.ping"

// PingData is the data of a test.ping: the subscriber it checks (null for
// a bare URL) and a message saying who sent it.
type PingData struct {
	Subscriber *string `json:"subscriber"`
	Message    string  `json:"message"`
}

// PingResult is a receiver's answer to a test.ping.
type PingResult struct {
	MessageID string        // the webhook-id sent
	Status    int           // HTTP status; 0 when no answer came back
	Latency   time.Duration // request sent to answer read
}

// OK reports a 2xx answer, the only one a delivery counts as delivered.
func (r PingResult) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Ping sends one test.ping to rawURL at once, signed with secret (Standard
// Webhooks) exactly as a delivery is: body {"type":"test.ping","timestamp",
// "data"}, at most DeliveryTimeout, redirects not followed. client nil means
// a default client. Errors never quote the URL, which may hold a token.
func Ping(ctx context.Context, client *http.Client, rawURL string, secret []byte, data PingData, now time.Time) (PingResult, error) {
	if data.Message == "" {
		data.Message = "test.ping from clorebot"
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return PingResult{}, fmt.Errorf("webhook: ping: %w", err)
	}
	body, err := json.Marshal(deliveryPayload{Type: EventTestPing, Timestamp: now.UTC().Format(time.RFC3339), Data: raw})
	if err != nil {
		return PingResult{}, fmt.Errorf("webhook: ping: %w", err)
	}
	res := PingResult{MessageID: NewMessageID()}
	ctx, cancel := context.WithTimeout(ctx, DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return res, errors.New("webhook: ping: the URL does not parse")
	}
	for name, v := range SignedHeaders(secret, res.MessageID, now, body) {
		req.Header[name] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", deliveryAgent)
	c := noRedirects(client)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		res.Latency = time.Since(start)
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return res, fmt.Errorf("webhook: ping: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainedBytes))
	res.Status, res.Latency = resp.StatusCode, time.Since(start)
	return res, nil
}

// noRedirects is a copy of client (or a default one) that never follows a
// redirect.
func noRedirects(client *http.Client) *http.Client {
	c := &http.Client{}
	if client != nil {
		copied := *client
		c = &copied
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}
