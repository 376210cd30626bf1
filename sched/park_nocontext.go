package sched

import "github.com/stackslice/stackslice/slice"

// ParkNoContext is Park(nil, reason, arm): it parks the calling coroutine
// (or blocks the calling goroutine) until the Waker given to arm is
// readied or the task is cancelled, for library code whose waits end by
// other means than a context (deadlines through timers, Close), such as
// package poll's reads and writes.
//
// It exists for memory: a parked task's frames are saved with it, and each
// argument word of a call costs the caller a spill slot in its frame. With
// three words to pass instead of five, this frame and its caller's are 16
// bytes smaller each, which every idle connection pays; and it does not
// keep the task pointer live while parked.
func ParkNoContext(reason string, arm func(Waker)) error {
	t := currentTask()
	if t == nil {
		return parkNoContextSlow(reason, arm)
	}
	arm(t.beginParkNamed(reason))
	if t.state.Load()&statusMask != stWoke {
		slice.Yield()
		// Looking the task up again keeps t dead across the yield, so
		// the saved stack needs no pointer-shadow entry for it (8 bytes
		// per idle connection, for a lookup per wake-up).
		t = currentTask()
	}
	return t.parkErr(t.endPark())
}

// parkNoContextSlow is ParkNoContext outside a task: it keeps
// ParkNoContext's calls at three words.
//
//go:noinline
func parkNoContextSlow(reason string, arm func(Waker)) error {
	return parkSlow(nil, reason, arm)
}
