//go:build linux || darwin || freebsd

package poll

import (
	"context"

	"github.com/stackslice/stackslice/sched"
)

// waker and park are the poller's only contact with how callers wait: a
// coroutine of a scheduler parks (its carrier runs other coroutines), an
// ordinary goroutine blocks. Every wait in this package goes through park,
// with an arm function that stores the waker where the poller, a timer or
// Close will find it, and re-checks the condition after storing it.
type waker = sched.Waker

// park is sched.ParkCtx, called directly (not through a function variable)
// so that arm closures do not escape: they live in the parked frame
// instead of in a heap object per wait.
func park(ctx context.Context, reason string, arm func(waker) bool) error {
	return sched.ParkCtx(ctx, reason, arm)
}

// parkIO is park without a ctx (reads and writes end by deadline timers
// and Close), through sched.Park: its frame, and its caller's
// (a smaller call), are smaller, and every idle connection's saved stack
// holds both.
func parkIO(reason string, arm func(waker) bool) error {
	return sched.Park(reason, arm)
}
