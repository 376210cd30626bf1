package sched

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// Park parks the calling coroutine until the Waker given to arm is
// readied, or the task is cancelled (Park then returns the task context's
// error). Called outside any task (from an ordinary goroutine), Park
// blocks the calling goroutine instead, with the same semantics. It is
// the primitive for waits that end by other means than a context
// (deadlines through timers, Close), such as package poll's reads and
// writes; ParkCtx also watches a context.
//
// arm runs on the coroutine, after it is marked parking and before it
// switches out. It registers the Waker with whatever will ready it and
// reports whether to park: false calls the park off, and Park returns nil
// at once, whatever the task's cancellation says (the Waker is then
// stale: Ready on it does nothing and returns false). Return false when
// arm finds that what the caller waits for has happened and arm took it
// (a lock that turned out free, say), so that nothing granted is dropped;
// that is the role of gopark's unlockf in the Go runtime. arm must not
// block or park; it runs even when the task is cancelled already (Park
// then returns the error at once, unless arm calls the park off).
//
// Ready may be called from any goroutine at any time after arm received
// the Waker, even before the coroutine has finished switching out: a
// Ready that comes first is not lost. Park returns nil when readied. A
// Waker that Ready was called on wins over a cancellation that came
// later, and the other way round: exactly one of them ends the park, and
// Ready's result says which. The package documentation's "Parking"
// section states the sequence, which every primitive of this package
// follows too.
func Park(reason string, arm func(Waker) bool) error {
	// A parked task's frames are saved with it, and each argument word of
	// a call costs the caller a spill slot in its frame: with three words
	// to pass, this frame and its caller's stay small, which every idle
	// connection pays. Park holds no task pointer while parked, live or
	// dead: the park begins in a callee whose frame is gone by the yield,
	// and the task is looked up again after it. So the saved stack needs
	// no shadow entry for the task, and tasks parked at the same place
	// have the same bytes there (templates, package slice's
	// CompressTemplate, then store nothing for them).
	switch beginParkCall(reason, arm) {
	case parkOutside:
		return parkCallSlow(reason, arm)
	case parkOff:
		return nil
	case parkYield:
		var pad parkPad // zeroes a word of the frame that is otherwise never written (arm64)
		slice.Yield()
		runtime.KeepAlive(&pad)
		// arm stays live across the yield, so its argument slot in the
		// caller's frame holds it (a pointer into the region, the same
		// for every task parked at one place) rather than what an earlier
		// call left there, which differs between connections and kept idle
		// ones from packing to their template (~30 bytes each).
		runtime.KeepAlive(arm)
	}
	return endParkCall()
}

// endParkCall ends Park's park, in a callee so that Park's frame has no
// local of its own: one word less in every parked task, and no slot
// there left over from an earlier call.
//
//go:noinline
func endParkCall() error {
	t := currentTask()
	return t.parkErr(t.endPark())
}

// beginParkCall begins Park's park and arms its Waker.
//
//go:noinline
func beginParkCall(reason string, arm func(Waker) bool) int {
	t := currentTask()
	if t == nil {
		return parkOutside
	}
	return t.armPark(t.startParkNamed(reason), 0, arm)
}

// parkCallSlow is Park outside a task: it keeps Park's calls at three
// words.
//
//go:noinline
func parkCallSlow(reason string, arm func(Waker) bool) error {
	return parkSlow(nil, reason, arm)
}

// ParkCtx is Park that also ends when ctx is done: it then returns
// ctx.Err() (the Waker is stale). ctx may be nil (no context but the
// task's). arm runs even when ctx is done already (ParkCtx then returns
// the error at once, unless arm calls the park off).
func ParkCtx(ctx context.Context, reason string, arm func(Waker) bool) error {
	// The frame of the function that yields is saved with every parked
	// task, with the outgoing argument area of everything it calls:
	// ParkCtx parks by itself (no deeper frames but slice.Yield's), keeps
	// only t live across the yield, and calls helpers with few arguments.
	t := currentTask()
	if t == nil || ctx != nil && !ignoreCtx(t, ctx) {
		return parkSlow(ctx, reason, arm)
	}
	switch t.armPark(t.startParkNamed(reason), 0, arm) {
	case parkOff:
		return nil
	case parkYield:
		slice.Yield()
	}
	return t.parkErr(t.endPark())
}

// What a park does once it began and armed (see armPark).
const (
	parkYield   = iota // the park began: yield
	parkWoke           // the park began and was woken already: do not yield
	parkOff            // arm called the park off: return nil
	parkOutside        // not in a task (Park)
)

// armPark runs arm for the park that began with w, then checks the task's
// cancellation (unless kind says not to), and tells the caller what to do.
//
//go:noinline
func (t *Task) armPark(w Waker, kind uint64, arm func(Waker) bool) int {
	if !arm(w) {
		t.callOff()
		return parkOff
	}
	t.checkCancel(w, kind)
	if t.state.Load()&statusMask == stWoke {
		return parkWoke
	}
	return parkYield
}

// parkSlow is ParkCtx outside a task, or with a ctx to watch.
//
//go:noinline
func parkSlow(ctx context.Context, reason string, arm func(Waker) bool) error {
	t := currentTask()
	id := internReason(reason)
	if t == nil {
		return parkGoroutine(ctx, id, reason, arm)
	}
	if id == reasonOther {
		t.setOtherReason(reason)
	}
	return parkCtx(t, ctx, id, arm, 0)
}

// parkInternal is ParkCtx for this package's own primitives (Chan, Mutex,
// Wait...): a task parked in one can only be woken by another task, which
// is what deadlock detection relies on.
// Like ParkCtx, it parks by itself.
func parkInternal(ctx context.Context, reason reasonID, arm func(Waker) bool) error {
	t := currentTask()
	if t == nil || ctx != nil && !ignoreCtx(t, ctx) {
		return parkInternalSlow(ctx, reason, arm)
	}
	switch t.armPark(t.startPark(reason, kindInternal), kindInternal, arm) {
	case parkOff:
		return nil
	case parkYield:
		slice.Yield()
	}
	return t.parkErr(t.endPark())
}

//go:noinline
func parkInternalSlow(ctx context.Context, reason reasonID, arm func(Waker) bool) error {
	return park(currentTask(), ctx, reason, arm, kindInternal)
}

// park is ParkCtx for this package, with the reason interned already (one of
// the package's own: never reasonOther) and the kind of park (kind* bits).
func park(t *Task, ctx context.Context, reason reasonID, arm func(Waker) bool, kind uint64) error {
	if t == nil {
		return parkGoroutine(ctx, reason, "", arm)
	}
	if ctx != nil && !ignoreCtx(t, ctx) {
		return parkCtx(t, ctx, reason, arm, kind)
	}
	switch t.armPark(t.startPark(reason, kind), kind, arm) {
	case parkOff:
		return nil
	case parkYield:
		slice.Yield()
	}
	return t.parkErr(t.endPark())
}

// ignoreCtx reports whether a park of t need not watch ctx: it is never
// done, or it is t's own context (whose cancellation ends any park).
func ignoreCtx(t *Task, ctx context.Context) bool {
	if tc, ok := ctx.(*taskCtx); ok && (*Task)(tc) == t {
		return true
	}
	return ctx.Done() == nil
}

// parkCtx is park with a context to watch besides the task's own.
//
//go:noinline
func parkCtx(t *Task, ctx context.Context, reason reasonID, arm func(Waker) bool, kind uint64) error {
	w := t.startPark(reason, kind)
	if !arm(w) {
		t.callOff()
		return nil
	}
	t.checkCancel(w, kind)
	stop := context.AfterFunc(ctx, func() { w.wake(causeCtx) })
	if ctx.Err() != nil {
		w.wake(causeCtx)
	}
	if t.state.Load()&statusMask != stWoke {
		slice.Yield()
	}
	cause := t.endPark()
	stop()
	return t.wakeErr(ctx, cause)
}

// startParkNamed is startPark for Park and ParkCtx, whose reason is any
// string.
//
//go:noinline
func (t *Task) startParkNamed(reason string) Waker {
	id := internReason(reason)
	if id == reasonOther {
		t.setOtherReason(reason)
	}
	return t.startPark(id, 0)
}

// setOtherReason keeps a reason that did not fit the table (reasonOther).
//
//go:noinline
func (t *Task) setOtherReason(reason string) {
	t.mu.Lock()
	t.ext_().reason = reason
	t.mu.Unlock()
}

// beginPark is startPark followed by the cancellation check, for the
// primitives that register their Waker without an arm function.
//
//go:noinline
func (t *Task) beginPark(reason reasonID, kind uint64) Waker {
	// startPark and checkCancel, inline: this is every Chan park's path.
	w := t.publishPark(reason, kind)
	if t.canceled() && kind&kindNoCancel == 0 {
		w.wake(causeCancel)
	}
	return w
}

// startPark publishes stParking, with a new generation and the kind of
// park (kind* bits), and returns the Waker for it. Only the task itself
// moves its state out of stRunning, so a plain store is enough.
//
//go:noinline
func (t *Task) startPark(reason reasonID, kind uint64) Waker { return t.publishPark(reason, kind) }

// publishPark is startPark's body, small enough to inline into beginPark.
func (t *Task) publishPark(reason reasonID, kind uint64) Waker {
	gen := t.state.Load()>>genShift + 1
	t.reason = reason
	t.parkedAt = uint32(t.s.coarse.Load() / int64(time.Millisecond))
	t.state.Store(gen<<genShift | kind | stParking)
	return Waker{t, gen}
}

// checkCancel ends the park that began with w at once if the task is
// cancelled (and kind allows). The flag is read after stParking was
// published: a Cancel that comes later sees the state and wakes the park
// itself.
func (t *Task) checkCancel(w Waker, kind uint64) {
	if t.canceled() && kind&kindNoCancel == 0 {
		w.wake(causeCancel)
	}
}

// callOff ends a park that arm called off before the task switched out.
// A parking task goes back to running with a new generation, so its Waker
// is stale; if a waker came first (arm's own Ready, a Cancel), it moved the
// generation on already and endPark finishes the job.
func (t *Task) callOff() {
	for {
		v := t.state.Load()
		if v&statusMask != stParking {
			t.endPark()
			return
		}
		if t.state.CompareAndSwap(v, (v>>genShift+1)<<genShift /* stRunning */) {
			t.reason = reasonNone
			return
		}
	}
}

// endPark ends a park once the coroutine is back (or never switched out,
// having been woken while parking), and returns the wake cause. The
// carrier completes the switch-out (see carrier.afterSwitch). A task that
// switched out is stRunning again already (its carrier set it, keeping the
// cause and kind bits, which nobody reads in stRunning and the next
// startPark overwrites), so only a park that never switched out (stWoke)
// needs a store here.
//
//go:noinline
func (t *Task) endPark() uint64 { return t.endParkInline() }

// endParkInline is endPark's body, inlined into callers whose frames are
// not saved with a parked task (sendEnd, recvEnd); the parking functions
// call endPark, which keeps their frames small.
func (t *Task) endParkInline() uint64 {
	v := t.state.Load()
	if v&statusMask != stRunning {
		t.state.Store(v &^ (kindMask | causeMask | statusMask) /* stRunning */)
	}
	t.reason = reasonNone
	return (v & causeMask) >> causeShift
}

// parkErr is the error of a park that watched no ctx but the task's.
func (t *Task) parkErr(cause uint64) error {
	if cause == causeReady {
		return nil
	}
	return t.cancelErr()
}

//go:noinline
func (t *Task) cancelErr() error { return (*taskCtx)(t).Err() }

func (t *Task) wakeErr(ctx context.Context, cause uint64) error {
	switch cause {
	case causeReady:
		return nil
	case causeCtx:
		return ctx.Err()
	}
	return (*taskCtx)(t).Err()
}

// A Waker readies one parked coroutine (or blocked goroutine), at most once.
// The zero Waker readies nothing.
type Waker struct {
	t   *Task
	gen uint64
}

// Ready readies the parked coroutine or goroutine. It reports whether this
// call woke it: false if it was woken already (by another Ready, by
// cancellation or by its ctx) or if the Waker is the zero Waker.
func (w Waker) Ready() bool { return w.wake(causeReady) }

// wake moves the task from parking or parked to woken, recording cause,
// with one CAS that also moves the generation on; the winner of a parked
// task queues it.
func (w Waker) wake(cause uint64) bool {
	t := w.t
	if t == nil {
		return false
	}
	for {
		v := t.state.Load()
		if v>>genShift != w.gen {
			return false
		}
		if v&inspectBit != 0 { // Dump is reading the stack: it is quick
			runtime.Gosched()
			continue
		}
		next := (w.gen+1)<<genShift | cause<<causeShift
		switch v & statusMask {
		case stParking:
			if t.state.CompareAndSwap(v, next|stWoke) {
				return true // its carrier queues it after the switch
			}
		case stParked:
			if t.state.CompareAndSwap(v, next|stQueued) {
				t.readied()
				return true
			}
		default:
			return false
		}
	}
}

// readied puts a woken task back to work: a goroutine stand-in is
// signalled, a task is queued on its scheduler.
func (t *Task) readied() {
	if t.flags.Load()&flagGoroutine != 0 {
		t.ext.sema <- struct{}{}
		return
	}
	t.s.ready(t)
}

// goParkers recycles the stand-in tasks of goroutines blocked in Park.
// Reuse is safe: generations only grow, so old Wakers stay stale.
var goParkers = sync.Pool{New: func() any {
	t := &Task{ext: &taskExt{sema: make(chan struct{}, 1)}}
	t.flags.Store(flagGoroutine)
	return t
}}

// parkGoroutine is Park for an ordinary goroutine: it blocks on a stand-in
// task's semaphore.
func parkGoroutine(ctx context.Context, reason reasonID, other string, arm func(Waker) bool) error {
	t := goParkers.Get().(*Task)
	gen := t.state.Load()>>genShift + 1
	t.reason, t.ext.reason = reason, other
	t.state.Store(gen<<genShift | stParked)
	w := Waker{t, gen}
	if !arm(w) {
		// Called off: make w stale, unless a Ready came first, whose
		// signal is then ours to take.
		if !t.state.CompareAndSwap(gen<<genShift|stParked, (gen+1)<<genShift) {
			<-t.ext.sema
		}
		t.state.Store(t.state.Load() &^ (causeMask | statusMask))
		goParkers.Put(t)
		return nil
	}
	goParked.Add(1)
	defer goParked.Add(-1)
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	var err error
	select {
	case <-t.ext.sema:
	case <-done:
		if w.wake(causeCtx) {
			<-t.ext.sema // our own wake signalled it
			err = ctx.Err()
		} else {
			<-t.ext.sema // someone readied it first: that wins
		}
	}
	t.state.Store(t.state.Load() &^ (causeMask | statusMask))
	goParkers.Put(t)
	return err
}
