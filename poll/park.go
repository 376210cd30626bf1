//go:build linux || darwin || freebsd

package poll

import "github.com/stackslice/stackslice/sched"

// waker and park are the poller's only contact with how callers wait: a
// coroutine of a scheduler parks (its carrier runs other coroutines), an
// ordinary goroutine blocks. Every wait in this package goes through park,
// with an arm function that stores the waker where the poller, a timer or
// Close will find it, and re-checks the condition after storing it.
type waker = sched.Waker

var park = sched.Park
