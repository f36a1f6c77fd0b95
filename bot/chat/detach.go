package chat

import (
	"context"
	"time"
)

// Detach returns the context for work a platform has been told is accepted
// (an acknowledged command or click, and the delivery of its answer): it
// keeps ctx's values but not its cancellation, so a graceful shutdown that
// cancels ctx, the front door's lifetime, does not drop the work on the
// floor, and it ends after limit at most, so that the shutdown waits for it
// a bounded time. The front door must track the work (a WaitGroup its Run
// waits on) for the wait to happen.
func Detach(ctx context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), limit)
}
