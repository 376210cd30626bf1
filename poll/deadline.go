//go:build linux || darwin || freebsd

package poll

import (
	"time"
	"unsafe"

	"github.com/stackslice/stackslice/timers"
)

// Deadlines. A direction with a deadline in the future has a timer on the
// scheduler's wheel, added with AddRef: the wheel's node (48 bytes) holds
// the callback and the direction's address, and the netFD only the
// node's 4-byte Ref (the read deadline's in the netFD itself, the write
// deadline's in its extra part), so an idle connection with a read
// deadline (an idle timeout) costs one wheel node more, nothing else. The
// deadline itself is not kept: the timer's firing sets the direction's
// expired bit, and setting a deadline moves, stops or adds the timer.
//
// The timer's callback takes fd.mu. A timer may have fired (its node is
// released) with its callback not yet run when a new deadline is set: the
// timer's Ref is then no longer pending, so setDeadline marks the
// direction stale and starts a new timer; the stale callback clears the
// mark and does nothing. The wheel runs callbacks one at a time (one
// driver: the scheduler's guard), so a stale callback runs before any
// later timer of the same direction fires.

// setDeadline sets the read and/or write deadline to t (zero: none).
func (fd *netFD) setDeadline(t time.Time, read, write bool) error {
	if err := fd.incref(); err != nil {
		return err
	}
	defer fd.decref()
	var wake [2]waker
	var nw int
	fd.mu.Lock()
	if read {
		if w, ok := fd.setDirDeadline(&fd.r, &fd.rt, readFired, t); ok {
			wake[nw], nw = w, nw+1
		}
	}
	// Clearing a write deadline never set needs no extra part: an idle
	// connection whose server clears it after each response keeps none.
	if write && !(t.IsZero() && fd.dl == nil) {
		if w, ok := fd.setDirDeadline(&fd.w, &fd.extra().wt, writeFired, t); ok {
			wake[nw], nw = w, nw+1
		}
	}
	fd.mu.Unlock()
	for _, w := range wake[:nw] {
		w.Ready()
	}
	return nil
}

// setDirDeadline sets d's deadline to t, with ref the place of d's timer
// Ref and fired its callback, and returns d's waiter if the deadline has
// passed already (the caller readies it after unlocking). fd.mu is held.
func (fd *netFD) setDirDeadline(d *ioDir, ref *timers.Ref, fired func(unsafe.Pointer), t time.Time) (waker, bool) {
	arg := unsafe.Pointer(d)
	if t.IsZero() {
		fd.dropTimer(d, ref)
		d.setExpired(false)
		return waker{}, false
	}
	dur := time.Until(t)
	if dur <= 0 {
		fd.dropTimer(d, ref)
		d.setExpired(true)
		return d.take()
	}
	d.setExpired(false)
	if *ref != 0 && fd.p.wheel.ResetRef(*ref, arg, dur) {
		return waker{}, false
	}
	if *ref != 0 && !brokenStaleMark {
		d.state.Or(staleBit) // it fired; its callback has not run yet
	}
	*ref = fd.p.wheel.AddRef(dur, fired, arg)
	return waker{}, false
}

// dropTimer stops d's timer, if any; one that fired already has its
// callback marked stale. fd.mu is held.
func (fd *netFD) dropTimer(d *ioDir, ref *timers.Ref) {
	if *ref == 0 {
		return
	}
	if !fd.p.wheel.StopRef(*ref, unsafe.Pointer(d)) && !brokenStaleMark {
		d.state.Or(staleBit)
	}
	*ref = 0
}

// stopDeadlines stops both timers when the descriptor closes. fd.mu is
// held.
func (fd *netFD) stopDeadlines() {
	fd.dropTimer(&fd.r, &fd.rt)
	if fd.dl != nil {
		fd.dropTimer(&fd.w, &fd.dl.wt)
	}
}

// readFired and writeFired are the deadline timers' callbacks, run by the
// wheel's driver with the direction's address: the deadline has passed.
func readFired(p unsafe.Pointer) {
	fd := (*netFD)(unsafe.Add(p, -int(unsafe.Offsetof(netFD{}.r))))
	fd.mu.Lock()
	fd.deadlinePassed(&fd.r, &fd.rt)
}

func writeFired(p unsafe.Pointer) {
	fd := (*netFD)(unsafe.Add(p, -int(unsafe.Offsetof(netFD{}.w))))
	fd.mu.Lock()
	fd.deadlinePassed(&fd.w, &fd.dl.wt)
}

// deadlinePassed marks d expired and readies its waiter, unless its timer
// was replaced after it fired (stale). fd.mu is held; it unlocks it.
func (fd *netFD) deadlinePassed(d *ioDir, ref *timers.Ref) {
	if d.state.Load()&staleBit != 0 {
		d.state.And(^uint32(staleBit))
		fd.mu.Unlock()
		return
	}
	*ref = 0
	d.setExpired(true)
	w, ok := d.take()
	fd.mu.Unlock()
	if ok {
		w.Ready()
	}
}
