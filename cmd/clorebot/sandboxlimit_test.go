package main

import (
	"testing"
	"time"
)

// The sandbox enforces Clore's limits against clorebot's default spacing,
// and keeps a wide jitter margin for the short spacings of sandbox setups.
func TestSandboxLimit(t *testing.T) {
	tests := []struct{ configured, clore, want time.Duration }{
		{1100 * time.Millisecond, time.Second, time.Second},
		{5500 * time.Millisecond, 5 * time.Second, 5 * time.Second},
		{3 * time.Second, time.Second, time.Second},
		{20 * time.Millisecond, time.Second, 5 * time.Millisecond},
		{550 * time.Millisecond, time.Second, 137500 * time.Microsecond},
		{time.Second, time.Second, 250 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := sandboxLimit(tt.configured, tt.clore); got != tt.want {
			t.Errorf("sandboxLimit(%v, %v) = %v, want %v", tt.configured, tt.clore, got, tt.want)
		}
	}
}
