package sched

import (
	"sync/atomic"
	"time"
)

// epoch is the origin of nanotime.
var epoch = time.Now()

// nanotime is monotonic nanoseconds since epoch.
func nanotime() int64 { return int64(time.Since(epoch)) }

// preemptRequests counts carriers, in every scheduler, whose running task
// has used up its time slice. Checkpoint's fast path is one load of it, so
// it costs a call and a load (about 2 ns) while no task overruns.
var preemptRequests atomic.Int32

// Checkpoint yields the calling task if it has used up its time slice,
// and otherwise returns at once (it costs a call and a load); a preempted
// task goes to the back of the global queue. Call it in long computations
// that do not otherwise block: a task that never blocks or checkpoints
// keeps running on its worker, and its carrier's other tasks wait for a
// stand-in (see WithStandIns). Outside a task it does nothing.
//
// Checkpoint is also a preemption point for Go's own scheduler and GC,
// which matters with async preemption off (GODEBUG=asyncpreemptoff=1).
//
//go:noinline
func Checkpoint() {
	// Kept out of line so that its prologue checks the goroutine's stack
	// guard, which the runtime poisons when it wants the goroutine to
	// stop: with async preemption off (which gccheckmark=1 implies) a loop
	// without calls would otherwise hold up every GC, and the scheduler's
	// monitor cannot help then, because the GC's handshake can leave it
	// without a P (TestCheckpointLetsGCFinish).
	if preemptRequests.Load() != 0 {
		checkpointSlow()
	}
}

// checkpointSlow runs when some carrier was asked to preempt; it yields
// only if that is the caller's.
//
//go:noinline
func checkpointSlow() {
	t := currentTask()
	if t == nil {
		return
	}
	if w := currentWorker(); w != nil && w.preempt.Load() {
		t.flags.Or(flagPreempted)
		yieldTask(t)
	}
}
