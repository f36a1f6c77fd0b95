package slackbot

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// A transport failure on a response_url never carries the URL (a bearer
// capability) into the error that gets logged.
func TestResponseURLErrorsAreRedacted(t *testing.T) {
	secret := "https://hooks.slack.test/commands/T1/" + strings.Repeat("x", 24)
	cause := errors.New("dial tcp: i/o timeout")
	err := fmt.Errorf("slackbot: response_url: %w", redactURL(&url.Error{Op: "Post", URL: secret, Err: cause}))
	if strings.Contains(err.Error(), "hooks.slack.test") {
		t.Fatalf("error leaks the response_url: %v", err)
	}
	if !errors.Is(err, cause) {
		t.Fatalf("cause lost: %v", err)
	}
	plain := errors.New("other")
	if redactURL(plain) != plain {
		t.Fatal("non-URL errors must pass through")
	}
}
