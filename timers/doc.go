// Package timers is a hierarchical timing wheel for the sleeps, deadlines
// and time slices of very many coroutines. The scheduler (sched) and the
// poller (poll) schedule callbacks with Add/AddAt, cancel or move them with
// Timer.Stop/Timer.Reset in O(1), and drive the wheel with Advance; the
// poller's carrier sleeps in epoll_wait for the duration reported by Next.
// Run is a stand-alone driver for when no poller does that. AddRef,
// StopRef and ResetRef are the same for callers that keep one timer per
// object in 4 bytes (a connection's deadline): the callback gets an
// argument instead of being a closure, and the handle is the node's index,
// checked against that argument.
//
// # Layout
//
// Time is counted in ticks of the wheel's resolution (1ms by default) from
// the moment New was called, on the monotonic clock. Six levels of 64
// slots hold timers 1-63, 64-4095, ... ticks away; a level is cascaded into
// the finer ones when the wheel reaches it. Timers beyond 2^36 ticks
// (about 2.2 years at 1ms) are parked in the top level and re-filed as time
// passes, so every duration fires correctly. The 64-bit tick counter may
// wrap around; all comparisons are modular. Each slot is an intrusive
// doubly-linked list, so Stop and Reset unlink in O(1). Timer nodes live in
// a per-wheel arena and are recycled; Add does not allocate.
//
// # Guarantees
//
//   - Callbacks run on the goroutine that calls Advance (or Run), one at a
//     time, never while the wheel's lock is held: a callback may Add, Stop
//     and Reset freely, including its own timer.
//   - Never early: a timer added with duration d fires at an Advance whose
//     time is at least d after the Add. It is at most one resolution late:
//     it fires at the first Advance whose time reaches its due time rounded
//     up to a tick. A d <= 0 (or an AddAt time not in the future) fires on
//     the next Advance.
//   - Order: within one Advance, timers fire in order of their due tick;
//     timers due at the same tick fire in unspecified order. Timers that
//     become due while callbacks run (e.g. re-added with d <= 0) fire on the
//     next Advance, so a callback cannot make Advance loop forever.
//   - Exactly once: a timer fires at most once per arming, and never after
//     a Stop that returned true (even if it was due in the same Advance).
//     Stop returns true only if it prevented the callback; false if the
//     timer already fired, is firing (Stop from its own callback), or was
//     already stopped. Reset returns true if the timer was pending (it is
//     moved) and false otherwise (it is armed again: Reset works after
//     fire and after Stop).
//   - Handles: Timer is a small value handle; each arming has a unique
//     64-bit number, so a stale handle never stops or moves another timer
//     whose node was recycled.
//   - Next reports 0 if a timer is due, else a lower bound on the time to
//     the earliest due timer, exact to the resolution once that timer is
//     in the finest level; waiting Next and Advancing reaches any timer in
//     at most one wake-up per level.
//
// All methods of Wheel and Timer are safe for concurrent use; one mutex per
// wheel protects its state.
package timers
