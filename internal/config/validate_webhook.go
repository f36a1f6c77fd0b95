package config

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// eventNames are the outbound lifecycle events a subscriber may ask for.
func eventNames() []string {
	return []string{
		"order.created", "order.running", "order.failed", "order.cancelled",
		"order.expired", "order.expiring", "watch.triggered", "job.completed",
	}
}

func (c *Config) validateWebhook(v *validator) {
	w := c.Webhook
	v.intRange("webhook.rate_per_minute", w.RatePerMinute, 0, math.MaxInt)
	v.intRange("webhook.ip_rate_per_minute", w.IPRatePerMinute, 0, math.MaxInt)
	v.positive("webhook.dedup_window", w.DedupWindow)
	v.positive("webhook.tolerance", w.Tolerance)
	validateWebhookKeys(v, w.Keys)
	validateSubscribers(v, w.Subscribers)
}

func validateWebhookKeys(v *validator, keys []WebhookKey) {
	seen := map[string]int{}
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
		for _, r := range k.Roles {
			if !slices.Contains([]string{roleAdmin, roleRenter, roleViewer}, r) {
				v.fail(prefix+".roles", "want roles among admin, renter, viewer, got %q", r)
			}
		}
	}
}

func validateSubscribers(v *validator, subs []WebhookSubscriber) {
	for i, s := range subs {
		prefix := fmt.Sprintf("webhook.subscribers[%d]", i)
		v.httpURL(prefix+".url", s.URL)
		if s.Secret == "" {
			v.fail(prefix+".secret", "required (set secret or secret_file)")
		}
		for _, e := range s.Events {
			if !slices.Contains(eventNames(), e) {
				v.fail(prefix+".events", "unknown event %q: want some of %s (empty = all)", e, strings.Join(eventNames(), ", "))
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
