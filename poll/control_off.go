//go:build !negcontrol

package poll

// Negative controls: switches that break a mechanism on purpose, so that a
// test can show it fails without it. They exist only in builds with the
// negcontrol tag (go test -tags negcontrol); in every other build they are
// constants the compiler removes, so nothing a user imports can flip them.

// brokenWakeCheck makes a Poll about to sleep ignore a pending Wake (see
// beginWait), so that a Wake asked for while no Poll slept is lost.
const brokenWakeCheck = false

// brokenLockGrant makes a cancelled waiter of an I/O lock return its
// cancellation although the lock was handed to it, leaving the lock held
// for good (see netFD.lock).
const brokenLockGrant = false

// brokenCollect attaches no cleanup to Conns and Listeners, so that one
// dropped without Close is never closed (see collectOnDrop).
const brokenCollect = false

// brokenTimerDriver makes the helper advance a scheduler's timing wheel
// itself instead of through the scheduler's guard (see runTimers).
const brokenTimerDriver = false

// brokenStaleMark leaves a deadline timer's callback that fired before its
// deadline was replaced unmarked, so that it expires the new deadline
// (see deadline.go).
const brokenStaleMark = false

// brokenWaitReadRecheck makes WaitRead return at the first readiness edge,
// even a stale one with no data behind it (see WaitRead).
const brokenWaitReadRecheck = false
