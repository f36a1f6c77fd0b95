package config

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/clorebot/clorebot/internal/events"
	"github.com/clorebot/clorebot/internal/whsec"
)

func (c *Config) validateWebhook(v *validator) {
	w := c.Webhook
	v.intRange("webhook.rate_per_minute", w.RatePerMinute, 0, math.MaxInt)
	v.intRange("webhook.ip_rate_per_minute", w.IPRatePerMinute, 0, math.MaxInt)
	v.positive("webhook.dedup_window", w.DedupWindow)
	v.positive("webhook.tolerance", w.Tolerance)
	validateWebhookKeys(v, w.Keys)
	validateSubscribers(v, w.Subscribers)
}

// secretKey checks a secret as the webhook front door reads it and returns
// its HMAC key (nil when it is refused or empty, which is reported apart).
func secretKey(v *validator, key string, s Secret) []byte {
	if s == "" {
		return nil
	}
	k, err := whsec.Parse(s.Reveal())
	if err != nil {
		v.fail(key, "%s", err) // never quotes the secret
		return nil
	}
	return k
}

func validateWebhookKeys(v *validator, keys []WebhookKey) {
	seen := map[string]int{}
	// Two keys with one HMAC key would verify each other's requests: every
	// request would be attributed to the first.
	secrets := map[string]int{}
	for i, k := range keys {
		prefix := fmt.Sprintf("webhook.keys[%d]", i)
		switch {
		case k.Name == "":
			v.fail(prefix+".name", "required")
		case !isKeyName(k.Name):
			v.fail(prefix+".name", "want lower-case letters, digits, _ and - only, got %q", k.Name)
		default:
			if first, dup := seen[k.Name]; dup {
				v.fail(prefix+".name", "duplicate name %q (also webhook.keys[%d])", k.Name, first)
			} else {
				seen[k.Name] = i
			}
		}
		if k.Secret == "" {
			v.fail(prefix+".secret", "required (set secret or secret_file)")
		}
		if hk := secretKey(v, prefix+".secret", k.Secret); hk != nil {
			for _, id := range []string{"hmac:" + string(hk), "raw:" + k.Secret.Reveal()} {
				if first, dup := secrets[id]; dup && first != i {
					v.fail(prefix+".secret", "the same secret as webhook.keys[%d]: every key needs its own, or requests of one are taken for the other's", first)
					break
				}
				secrets[id] = i
			}
		}
		for _, r := range k.Roles {
			if !slices.Contains([]string{roleAdmin, roleRenter, roleViewer}, r) {
				v.fail(prefix+".roles", "want roles among admin, renter, viewer, got %q", r)
			}
		}
	}
}

func validateSubscribers(v *validator, subs []WebhookSubscriber) {
	urls := map[string]int{}
	for i, s := range subs {
		prefix := fmt.Sprintf("webhook.subscribers[%d]", i)
		v.httpURL(prefix+".url", s.URL)
		if first, dup := urls[s.URL]; dup && s.URL != "" {
			v.fail(prefix+".url", "the same URL as webhook.subscribers[%d]: list a receiver once, with every event it wants", first)
		} else {
			urls[s.URL] = i
		}
		if s.Secret == "" {
			v.fail(prefix+".secret", "required (set secret or secret_file)")
		}
		secretKey(v, prefix+".secret", s.Secret)
		for _, e := range s.Events {
			if !slices.Contains(events.Delivered(), e) {
				v.fail(prefix+".events", "unknown event %q: want some of %s (empty = all)", e, strings.Join(events.Delivered(), ", "))
			}
		}
	}
}

// isKeyName reports whether s matches [a-z0-9_-]+.
func isKeyName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
