package timers

import "time"

// Timer is the handle of a callback scheduled on a Wheel, returned by Add
// and AddAt. It is a small value: keep it in a variable or struct field and
// call Stop and Reset through it (they take a pointer so that Reset can
// re-register a fired timer). The zero Timer is not scheduled; Stop on it
// returns false.
//
// A handle never affects another timer: each registration has a unique
// 64-bit number, so a stale handle (whose timer fired or was stopped, its
// storage since reused) is simply inert. Copies of a handle refer to the
// same registration until one copy Resets a fired or stopped timer; that
// creates a new registration which only that copy tracks.
//
// Stop and Reset are O(1) and safe to call from any goroutine, including
// concurrently with each other and from inside the timer's own callback.
type Timer struct {
	w   *Wheel
	fn  func()
	seq uint64
	idx uint32
}

// Stop cancels the timer. It returns true if the call stopped the timer
// before it fired, and false if it had already fired or been stopped
// (including when called from the timer's own callback, which has already
// started). After Stop returns true the callback will not run. Stop is
// idempotent.
func (t *Timer) Stop() bool {
	w := t.w
	if w == nil {
		return false
	}
	w.mu.Lock()
	n := w.node(t.idx)
	if t.seq == 0 || n.seq != t.seq {
		w.mu.Unlock()
		return false
	}
	w.release(t.idx, n)
	w.mu.Unlock()
	return true
}

// Reset re-arms the timer to fire after at least d (d <= 0: on the next
// Advance). It returns true if the
// timer was pending (Reset moved it) and false if it had fired or been
// stopped, in which case Reset schedules the callback again, as a new
// registration recorded in t. Reset on the zero Timer panics.
func (t *Timer) Reset(d time.Duration) bool {
	w := t.w
	if w == nil {
		panic("timers: Reset of a Timer not created by Add or AddAt")
	}
	when, now := w.dueAfter(d)
	w.mu.Lock()
	n := w.node(t.idx)
	if t.seq != 0 && n.seq == t.seq {
		w.unlink(t.idx, n)
		if now {
			when = w.cur
		}
		n.when = when
		w.insert(t.idx, n)
		w.wakeRun(when)
		w.mu.Unlock()
		return true
	}
	t.idx, t.seq = w.arm(when, now, callFunc, funcArg(t.fn))
	w.mu.Unlock()
	return false
}
