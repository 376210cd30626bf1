package sched

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// Priority orders runnable tasks: a runnable task of a higher priority is
// always picked before one of a lower priority.
type Priority int32

const (
	High    Priority = iota // latency-sensitive work
	Normal                  // the default
	Low                     // background work
	Idle                    // runs only when nothing else can
	numPrio = 4
)

func (p Priority) String() string {
	switch p {
	case High:
		return "high"
	case Normal:
		return "normal"
	case Low:
		return "low"
	case Idle:
		return "idle"
	}
	return "invalid"
}

func (p Priority) valid() bool { return p >= High && p <= Idle }

// ErrGoexit is what Task.Wait reports for a task that called
// runtime.Goexit. Goexit in a task ends the task (its deferred calls run);
// the scheduler goes on.
var ErrGoexit = errors.New("sched: task called runtime.Goexit")

// The task state word packs a park generation, the kind of park, a wake
// cause and a status:
//
//	gen<<genShift | kind | cause<<causeShift | inspectBit | status
//
// Each Park takes a new generation; a Waker carries it, so a stale Waker
// (an earlier park, or one whose park ended by cancellation) fails its
// compare-and-swap. Whoever wakes a parked task moves the generation on in
// the same CAS that records why, so there is exactly one winner.
// inspectBit is held briefly by Dump while it reads a parked task's stack;
// every other transition waits for it to clear. The kind bits (kindInternal,
// kindNoCancel) are set with the generation by the park that owns them, in
// the same store, so whoever reads a parking or parked state reads them too
// and no read-modify-write of another word is needed per park; they are
// stale (and ignored) once the status is back to running.
const (
	stRunning uint64 = iota // on a carrier (or being created)
	stParking               // in Park, not yet switched out
	stParked                // switched out, waiting for a Waker
	stQueued                // in a run queue
	stWoke                  // woken while still parking: its carrier requeues it
	stDone                  // finished

	statusMask = 7
	inspectBit = 8
	causeShift = 4
	causeMask  = 3 << causeShift
	genShift   = 8

	kindInternal uint64 = 1 << 6 // parked in a primitive of this package (see deadlock)
	kindNoCancel uint64 = 1 << 7 // parked where cancellation must not interrupt
	kindMask            = kindInternal | kindNoCancel
)

// Wake causes, recorded in the state word by the winning waker.
const (
	causeReady  uint64 = 1 // Waker.Ready
	causeCancel uint64 = 2 // Task.Cancel or the scheduler closing
	causeCtx    uint64 = 3 // Park's own ctx ended
)

// Task flags.
const (
	flagCanceled  uint32 = 1 << iota
	flagGoroutine        // a stand-in for a goroutine blocked in Park
	flagPreempted        // yielded at a Checkpoint: requeue globally
	flagSwept            // on its shard's swept list: the sweeper dealt with its park (compact.go); changed under the shard's lock

	// The priority and the pinned carrier (its index + 1; 0: not pinned,
	// fixed at Go) are kept in the flags word too, so the Task stays small.
	prioShift = 8
	prioMask  = 3
	pinShift  = 16
)

// A Task is one coroutine run by a Scheduler. Its methods are safe for
// concurrent use.
//
// The struct is kept small: everything only some tasks need (a Done
// channel, waiters, a parent context, a panic) lives in ext.
type Task struct {
	state atomic.Uint64 // see the state word above
	flags atomic.Uint32 // flag* bits, the priority and the pinned carrier
	// worker is the index + 1 of the worker that runs the task, or ran it
	// last (see workerTable; 0: none yet): written by that worker before
	// it resumes the task, and only when it changes. The task itself reads it to find
	// its worker (the resume orders it after the write); Dump reads it to
	// find the running tasks of each worker.
	worker atomic.Int32
	// size and peak are the bytes the coroutine held when last seen
	// suspended, and the most seen (see TaskInfo.Size; noteSize).
	size, peak atomic.Uint32
	id         uint64
	co         *slice.Coroutine
	s          *Scheduler
	fn         func(context.Context)
	// reason and parkedAt describe the current park; written by the task
	// before it publishes stParking, read by Dump under inspectBit.
	// reason indexes the table of park reasons (see internReason);
	// parkedAt is the scheduler's coarse clock in milliseconds, modulo 2^32.
	reason   reasonID
	parkedAt uint32
	// prev and next link the task into its scheduler's registry shard.
	prev, next *Task

	mu  sync.Mutex // guards ext
	ext *taskExt
}

// taskExt is the rarely needed part of a Task, guarded by Task.mu.
type taskExt struct {
	name       string
	parent     context.Context // from WithContext; nil: none
	stopParent func() bool     // undoes the AfterFunc on parent
	cancelErr  error           // the error Err reports, if not context.Canceled
	done       chan struct{}   // Task.Done, made on demand
	ctxDone    chan struct{}   // the task context's Done, made on demand
	waiters    []Waker         // parked in Task.Wait
	afterFuncs map[*afterFunc]struct{}
	err        error         // result: *slice.PanicError or ErrGoexit
	sema       chan struct{} // goroutine stand-ins: Park blocks on it
	reason     string        // the park reason when Task.reason is reasonOther
	wg         *WaitGroup    // WithWaitGroup's: Done when the task ends
}

func (t *Task) ext_() *taskExt {
	if t.ext == nil {
		t.ext = new(taskExt)
	}
	return t.ext
}

// ID returns the task's number, unique within its scheduler.
func (t *Task) ID() uint64 { return t.id }

// Priority returns the task's priority.
func (t *Task) Priority() Priority { return Priority(t.prio()) }

// prio returns the task's priority as an index.
func (t *Task) prio() int { return int(t.flags.Load() >> prioShift & prioMask) }

// pin returns the index + 1 of the carrier the task is pinned to, or 0.
func (t *Task) pin() int { return int(t.flags.Load() >> pinShift) }

// SetPriority changes the task's priority. It takes effect the next time
// the task is queued (when it yields, is readied or is preempted); a task
// already in a run queue keeps its place.
func (t *Task) SetPriority(p Priority) {
	if !p.valid() {
		panic("sched: SetPriority with an invalid priority; use High, Normal, Low or Idle")
	}
	for {
		f := t.flags.Load()
		if t.flags.CompareAndSwap(f, f&^(prioMask<<prioShift)|uint32(p)<<prioShift) {
			return
		}
	}
}

// Cancel cancels the task's context. Blocking calls of this package made by
// the task return promptly with the context's error; the task finishes when
// its function returns.
func (t *Task) Cancel() { t.cancel(nil) }

func (t *Task) cancel(err error) {
	t.mu.Lock()
	if t.flags.Load()&flagCanceled != 0 {
		t.mu.Unlock()
		return
	}
	var fns []func()
	if t.ext != nil {
		if err != nil && err != context.Canceled {
			t.ext.cancelErr = err
		}
		if t.ext.ctxDone != nil {
			close(t.ext.ctxDone)
		}
		for f := range t.ext.afterFuncs {
			fns = append(fns, f.f)
		}
		t.ext.afterFuncs = nil
	} else if err != nil && err != context.Canceled {
		t.ext_().cancelErr = err
	}
	// The flag is set after cancelErr, under mu, so Err never sees the
	// flag without the error; Park reads the flag after publishing
	// stParking, and the loop below reads the state after setting it.
	t.flags.Or(flagCanceled)
	t.mu.Unlock()
	for _, f := range fns {
		go f() // as context.AfterFunc does
	}
	v := t.state.Load()
	if s := v & statusMask; (s == stParking || s == stParked) && v&kindNoCancel == 0 {
		Waker{t, v >> genShift}.wake(causeCancel)
	}
}

func (t *Task) canceled() bool { return t.flags.Load()&flagCanceled != 0 }

// Done returns a channel that is closed when the task has finished.
func (t *Task) Done() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	x := t.ext_()
	if x.done == nil {
		x.done = make(chan struct{})
		if t.state.Load()&statusMask == stDone {
			close(x.done)
		}
	}
	return x.done
}

// Wait waits for the task to finish and returns nil if its function
// returned, a *slice.PanicError (value and stack) if it panicked, or
// ErrGoexit. Called from a task, Wait parks that task, and returns its
// context's error if it is cancelled first; from a goroutine it blocks.
func (t *Task) Wait() error {
	if t.state.Load()&statusMask != stDone {
		err := parkInternal(nil, reasonTaskWait, func(w Waker) bool {
			t.mu.Lock()
			defer t.mu.Unlock()
			if t.state.Load()&statusMask == stDone {
				return false // finished already: no need to park
			}
			x := t.ext_()
			x.waiters = append(x.waiters, w)
			return true
		})
		if err != nil {
			t.dropWaiter(currentTask())
			return err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ext != nil {
		return t.ext.err
	}
	return nil
}

// dropWaiter removes the Waker of a Wait that waiter (a task: only a task's
// Wait can be cancelled) gave up: a task waited on for long by tasks that
// are cancelled would otherwise keep a Waker, and its waiter's Task, per
// cancelled Wait until it finishes. A task waits in one Wait at a time, so
// its Waker, if still listed, is that Wait's.
func (t *Task) dropWaiter(waiter *Task) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ext == nil {
		return
	}
	ws := t.ext.waiters
	for i, w := range ws {
		if w.t == waiter {
			ws[i] = ws[len(ws)-1]
			ws[len(ws)-1] = Waker{}
			t.ext.waiters = ws[:len(ws)-1]
			return
		}
	}
}

// finish records the result, wakes waiters and unregisters the task. The
// carrier calls it once the coroutine has returned, panicked or exited.
func (t *Task) finish(err error) {
	t.mu.Lock()
	t.state.Store(stDone)
	var ws []Waker
	var wg *WaitGroup
	if t.ext != nil || err != nil {
		x := t.ext_()
		x.err = err
		wg, x.wg = x.wg, nil
		ws, x.waiters = x.waiters, nil
		if x.done != nil {
			close(x.done)
		}
		if x.stopParent != nil {
			x.stopParent()
			x.stopParent = nil
		}
		x.afterFuncs = nil
	}
	t.mu.Unlock()
	for _, w := range ws {
		w.Ready()
	}
	t.fn = nil
	t.s.unregister(t)
	if wg != nil {
		wg.Done()
	}
}

// Name returns the name given with WithTaskName, or "".
func (t *Task) Name() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ext != nil {
		return t.ext.name
	}
	return ""
}

// taskCtx is the context a task's function receives: the Task itself seen
// as a context.Context, so no context is allocated per task. Its Done
// channel is made only if someone asks for it; derived contexts hook in
// through AfterFunc (which package context uses for cancellation
// propagation) without a goroutine.
type taskCtx Task

type ctxKey struct{}

func (c *taskCtx) task() *Task { return (*Task)(c) }

func (c *taskCtx) parent() context.Context {
	t := c.task()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ext != nil {
		return t.ext.parent
	}
	return nil
}

func (c *taskCtx) Deadline() (time.Time, bool) {
	if p := c.parent(); p != nil {
		return p.Deadline()
	}
	return time.Time{}, false
}

func (c *taskCtx) Done() <-chan struct{} {
	t := c.task()
	t.mu.Lock()
	defer t.mu.Unlock()
	x := t.ext_()
	if x.ctxDone == nil {
		x.ctxDone = make(chan struct{})
		if t.canceled() {
			close(x.ctxDone)
		}
	}
	return x.ctxDone
}

func (c *taskCtx) Err() error {
	t := c.task()
	if !t.canceled() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ext != nil && t.ext.cancelErr != nil {
		return t.ext.cancelErr
	}
	return context.Canceled
}

func (c *taskCtx) Value(key any) any {
	if key == (ctxKey{}) {
		return c.task()
	}
	if p := c.parent(); p != nil {
		return p.Value(key)
	}
	return nil
}

func (c *taskCtx) String() string { return "sched.Task context" }

type afterFunc struct{ f func() }

// AfterFunc arranges for f to run (in its own goroutine) when the task is
// cancelled; package context uses it to propagate cancellation to derived
// contexts without a goroutine each.
func (c *taskCtx) AfterFunc(f func()) (stop func() bool) {
	t := c.task()
	a := &afterFunc{f}
	t.mu.Lock()
	if t.canceled() {
		t.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	x := t.ext_()
	if x.afterFuncs == nil {
		x.afterFuncs = make(map[*afterFunc]struct{})
	}
	x.afterFuncs[a] = struct{}{}
	t.mu.Unlock()
	return func() bool {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.ext == nil || t.ext.afterFuncs == nil {
			return false
		}
		_, ok := t.ext.afterFuncs[a]
		delete(t.ext.afterFuncs, a)
		return ok
	}
}

// TaskOf returns the task whose context ctx is or derives from, or nil.
func TaskOf(ctx context.Context) *Task {
	t, _ := ctx.Value(ctxKey{}).(*Task)
	return t
}
