package chat

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends (then it returns ctx's error): how a
// front door waits out a platform's rate limit without outliving its
// caller.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
