package sched

import (
	"runtime"

	"github.com/stackslice/stackslice/slice"
)

// ParkNoContext is Park(nil, reason, arm): it parks the calling coroutine
// (or blocks the calling goroutine) until the Waker given to arm is
// readied or the task is cancelled, for library code whose waits end by
// other means than a context (deadlines through timers, Close), such as
// package poll's reads and writes.
//
// It exists for memory: a parked task's frames are saved with it, and each
// argument word of a call costs the caller a spill slot in its frame. With
// three words to pass instead of five, this frame and its caller's are 16
// bytes smaller each, which every idle connection pays. It also holds no
// task pointer while parked, live or dead: the park begins in a callee
// whose frame is gone by the yield, and the task is looked up again after
// it. So the saved stack needs no shadow entry for the task, and tasks
// parked at the same place have the same bytes there (templates, package
// slice's CompressTemplate, then store nothing for them).
func ParkNoContext(reason string, arm func(Waker) bool) error {
	switch beginParkNoContext(reason, arm) {
	case parkOutside:
		return parkNoContextSlow(reason, arm)
	case parkOff:
		return nil
	case parkYield:
		slice.Yield()
		// arm stays live across the yield, so its argument slot in the
		// caller's frame holds it (a pointer into the region, the same
		// for every task parked at one place) rather than what an earlier
		// call left there, which differs between connections and kept idle
		// ones from packing to their template (~30 bytes each).
		runtime.KeepAlive(arm)
	}
	return endParkNoContext()
}

// endParkNoContext ends ParkNoContext's park, in a callee so that
// ParkNoContext's frame has no local of its own: one word less in every
// parked task, and no slot there left over from an earlier call.
//
//go:noinline
func endParkNoContext() error {
	t := currentTask()
	return t.parkErr(t.endPark())
}

// beginParkNoContext begins ParkNoContext's park and arms its Waker.
//
//go:noinline
func beginParkNoContext(reason string, arm func(Waker) bool) int {
	t := currentTask()
	if t == nil {
		return parkOutside
	}
	return t.armPark(t.startParkNamed(reason), 0, arm)
}

// parkNoContextSlow is ParkNoContext outside a task: it keeps
// ParkNoContext's calls at three words.
//
//go:noinline
func parkNoContextSlow(reason string, arm func(Waker) bool) error {
	return parkSlow(nil, reason, arm)
}
