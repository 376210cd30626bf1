package timers

import (
	"time"
	"unsafe"
)

// A Ref names a pending timer added with AddRef: the index of its node in
// the wheel, 4 bytes where a Timer takes 32, for callers that keep a timer
// per object and count bytes per object (a deadline per connection). A Ref
// means something only together with the arg its timer was added with:
// StopRef and ResetRef act on the node at r only while it is pending with
// that arg. The zero Ref names no timer.
type Ref uint32

// AddRef schedules fn(arg) to run once after at least d, like Add, and
// returns its Ref. arg must tell this timer apart from every other pending
// timer (say, the address of the state the timer belongs to): it is what
// StopRef and ResetRef check, and a pending timer keeps it alive. fn runs
// as Add's callbacks do. AddRef does not allocate (beyond occasional growth
// of the wheel's node storage).
func (w *Wheel) AddRef(d time.Duration, fn func(arg unsafe.Pointer), arg unsafe.Pointer) Ref {
	if fn == nil || arg == nil {
		panic("timers: AddRef needs a callback and an argument")
	}
	when, now := w.dueAfter(d)
	w.mu.Lock()
	i, _ := w.arm(when, now, fn, arg)
	w.mu.Unlock()
	return Ref(i)
}

// pending returns r's node if it is the pending timer of arg. w.mu must be
// held.
func (w *Wheel) pending(r Ref, arg unsafe.Pointer) *node {
	if r == 0 || uint32(r) >= w.used {
		return nil
	}
	if n := w.node(uint32(r)); n.seq != 0 && n.arg == arg {
		return n
	}
	return nil
}

// StopRef cancels the timer named by r and arg, and reports whether it did
// so before the timer fired (false: it had fired or been stopped). Like
// Timer.Stop, it stops a timer that an Advance in progress has not fired
// yet.
func (w *Wheel) StopRef(r Ref, arg unsafe.Pointer) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.pending(r, arg)
	if n == nil {
		return false
	}
	w.release(uint32(r), n)
	return true
}

// ResetRef moves the timer named by r and arg to fire after at least d, and
// reports whether it did: false if the timer had fired or been stopped, in
// which case nothing is scheduled (call AddRef).
func (w *Wheel) ResetRef(r Ref, arg unsafe.Pointer, d time.Duration) bool {
	when, now := w.dueAfter(d)
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.pending(r, arg)
	if n == nil {
		return false
	}
	w.unlink(uint32(r), n)
	if now {
		when = w.cur
	}
	n.when = when
	w.insert(uint32(r), n)
	w.wakeRun(when)
	return true
}
