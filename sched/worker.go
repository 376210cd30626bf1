package sched

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/stackslice/stackslice/slice"
)

// A worker is the goroutine that serves a carrier, like an M serving a P
// in the Go runtime: it takes tasks from the carrier's queues and resumes
// their coroutines on its own stack (slice.Coroutine.ResumeFor, with the
// task as the owner, so that code running in a task finds its task through
// slice.Owner, and its worker through the task's worker index).
//
// Besides the carrier's queues a worker has a "next" slot: the task the
// running task readied last, which runs next (as in the Go runtime, this
// keeps a producer and its consumer on one worker, and a task that readies
// another and parks hands its worker straight over). Only the worker's
// own goroutine fills and empties it: it fills an empty slot with a store
// (a full one with a swap, which returns the task it displaces) and
// empties it with a swap; the monitor may take it away (handoff) with a
// compare-and-swap, and whoever comes first has the task. spare,
// nextPrio, picks, chain and inTask are the worker's alone: no other
// goroutine touches them.
//
// A worker whose task blocks outside the scheduler is detached by the
// monitor, which starts a stand-in worker for the carrier (standin.go);
// when its task switches out, the detached worker passes on what it holds
// and exits.
type worker struct {
	c   *carrier // the carrier it serves, or served until it was detached
	idx int32    // its index in the scheduler's worker table (Task.worker is idx+1)

	// seq is resumes<<seqShift | detachedBit | inTaskBit. The worker adds
	// seqUnit|inTaskBit before a resume and clears inTaskBit with an add
	// after it, or, going straight on to its next slot's task, adds
	// seqUnit and keeps inTaskBit (see afterRun); the monitor detaches a
	// worker stuck in one resume with a compare-and-swap that sets
	// detachedBit. The worker's add tells it whether the monitor's
	// compare-and-swap came first, so it knows whether it still serves c.
	seq atomic.Uint64

	next     taskSlot    // see above
	preempt  atomic.Bool // the monitor asks the running task to yield
	nextPrio int         // next's priority when it was put there (< numPrio); owner only
	spare    any         // a Chan waiter for reuse (see parkWaiter); owner only
	picks    uint32      // findWork calls, owner only
	chain    uint32      // picks in a row from next, owner only (see nextChainMax)
	// inTask says that w's goroutine is in a resume (seq's in-task bit
	// may stay set between two resumes: see afterRun); owner only.
	inTask bool

	// g is the worker's goroutine (slice.Carrier): the monitor asks
	// whether it is blocked, and ready whether it is the caller's. Stored
	// once, by the goroutine, before its first resume.
	g            atomic.Pointer[slice.Carrier]
	goid         atomic.Uint64 // the goroutine's id, for Dump
	blockedSince atomic.Int64  // detached: nanotime since its task has run
}

// taskSlot is an atomic *Task that a write barrier does not slow down:
// worker.next, filled and emptied at every hand-over between two tasks on
// one worker. It holds the task's address as a uintptr, which the garbage
// collector does not see; it need not, because every task in a next slot
// is in its scheduler's registry (from Go until finish, and a task in a
// next slot has not finished), which keeps it alive, and Go's collector
// does not move heap objects. A task loaded from the slot is a pointer
// again before any call.
type taskSlot struct{ v atomic.Uintptr }

func (s *taskSlot) Load() *Task        { return taskAt(s.v.Load()) }
func (s *taskSlot) Swap(t *Task) *Task { return taskAt(s.v.Swap(uintptr(unsafe.Pointer(t)))) }
func (s *taskSlot) CompareAndSwap(old, new *Task) bool {
	return s.v.CompareAndSwap(uintptr(unsafe.Pointer(old)), uintptr(unsafe.Pointer(new)))
}

// taskAt returns the task at address p (see taskSlot), read through memory
// rather than converted, which checkptr (-race) would refuse for a heap
// address that comes from no pointer.
func taskAt(p uintptr) *Task { return *(**Task)(unsafe.Pointer(&p)) }

const (
	inTaskBit   = 1
	detachedBit = 2
	seqShift    = 2
	seqUnit     = 1 << seqShift
)

// newWorker returns a worker for c, entered in the scheduler's table.
func newWorker(c *carrier) *worker {
	w := &worker{c: c}
	c.s.workers.add(w)
	return w
}

// leave ends w's service for good: it passes on what it holds, its resumes
// go to the retired count, and its index is free for a new worker. Its
// task has switched out (or finished), so no task refers to w any more.
func (w *worker) leave() {
	s := w.c.s
	w.handOver()
	s.retiredSwitches.Add(w.switches())
	s.workers.remove(w)
}

// switches returns how many resumes w has started.
func (w *worker) switches() uint64 { return w.seq.Load() >> seqShift }

// currentTask returns the task the caller runs in, or nil outside a task
// (and in coroutines nested in a task, which are not the task: code there
// blocks its worker rather than parking). A worker resumes every task with
// the task as its coroutine's owner.
func currentTask() *Task {
	t, _ := slice.Owner().(*Task)
	return t
}

// runningOn returns the worker that runs t. Only t itself may ask, while it
// runs: its worker wrote the index before resuming it.
func (t *Task) runningOn() *worker { return t.s.workers.get(t.worker.Load() - 1) }

// blocked reports whether w's goroutine is blocked (see slice.Carrier).
func (w *worker) blocked() bool {
	g := w.g.Load()
	return g != nil && g.Blocked()
}

// lastWorkerHere returns the worker t ran on last if the caller runs on
// that worker's goroutine, inside a resume (in a task, or in a coroutine
// nested in one), else nil. It spares ready the coroutine lookup of
// currentWorker when a task readies one that ran on its own worker, as a
// producer and its consumer handing over on one worker do.
func (s *Scheduler) lastWorkerHere(t *Task) *worker {
	ref := t.worker.Load()
	if ref == 0 {
		return nil
	}
	w := s.workers.get(ref - 1)
	if w == nil {
		return nil
	}
	g := w.g.Load()
	if g == nil || *g == (slice.Carrier{}) || *g != slice.CurrentCarrier() {
		return nil // another goroutine's, or the fallback's (no Carrier)
	}
	// The caller's own worker: its inTask is the caller's to read.
	if !w.inTask {
		return nil // the worker itself, between tasks
	}
	return w
}

// currentWorker returns the worker running the calling task, or nil
// outside a task.
func currentWorker() *worker {
	if t := currentTask(); t != nil {
		return t.runningOn()
	}
	return nil
}

// currentWorker returns the worker of s that runs the calling task, or nil.
func (s *Scheduler) currentWorker() *worker {
	if t := currentTask(); t != nil && t.s == s {
		return t.runningOn()
	}
	return nil
}

// loop is the worker goroutine.
func (w *worker) loop() {
	defer w.c.s.carrierWG.Done()
	g := slice.CurrentCarrier()
	w.g.Store(&g)
	w.goid.Store(goid())
	for {
		t, pe := w.serve()
		if t == nil {
			return // the scheduler stops, or w was detached
		}
		// t panicked (serve recovered it): it is finished.
		if _, kept := w.afterRun(t, true, pe); !kept {
			return
		}
	}
}

// serve runs tasks until the scheduler stops or the monitor detaches w,
// and then returns nil. A task that panics ends it early: serve returns
// the task and its panic, and loop finishes the task and calls serve
// again. One deferred call serves all the resumes serve makes (rather
// than one per resume, which every switch paid): it acts only while a
// resume is in progress (cur), so that a panic of the worker's own code
// is not taken for the task's. If the task calls runtime.Goexit, the
// worker's goroutine itself is exiting: the deferred call finishes the
// task and lets the carrier go on.
func (w *worker) serve() (panicked *Task, pe *slice.PanicError) {
	var cur *Task // the task in a resume, else nil
	defer func() {
		if cur == nil {
			return
		}
		w.inTask = false
		if r := recover(); r != nil {
			var ok bool
			if pe, ok = r.(*slice.PanicError); !ok {
				pe = &slice.PanicError{Value: r}
			}
			panicked = cur
			return
		}
		w.goexit(cur)
	}()
	s := w.c.s
	var t *Task // the next task, when afterRun took it while w stayed in a task
	for {
		if t == nil {
			if s.stopping.Load() {
				break
			}
			if w.picks%8 == 0 {
				s.pollBusy()
			}
			if t = w.findWork(); t == nil {
				w.c.idle()
				continue
			}
			w.seq.Add(seqUnit | inTaskBit)
		}
		w.beforeRun(t)
		cur = t
		w.inTask = true
		done := t.co.ResumeFor(t)
		w.inTask = false
		cur = nil
		var kept bool
		if t, kept = w.afterRun(t, done, nil); !kept {
			break // detached: a stand-in serves the carrier now
		}
	}
	return nil, nil
}

// beforeRun prepares t, just taken from a queue, for its resume (w's seq
// says it is in a task already).
//
// t's worker index is stored only when it changes (an atomic store is a
// locked instruction), which it does only when t moves to another worker.
func (w *worker) beforeRun(t *Task) {
	// setRunning's common case inline.
	if v := t.state.Load(); v&inspectBit != 0 || !t.state.CompareAndSwap(v, v&^statusMask|stRunning) {
		t.setRunning()
	}
	if t.flags.Load()&flagSwept != 0 {
		w.c.s.unsweep(t) // runs again: the sweeper looks at its next park
	}
	if t.worker.Load() != w.idx+1 {
		t.worker.Store(w.idx + 1)
	}
}

// afterRun completes t's resume, which yielded, parked or finished (done;
// err is its panic, if it panicked). It reports whether w still serves its
// carrier: false if the monitor detached it meanwhile (w has then retired,
// and its goroutine must exit); and, when the task that runs next is the
// one in w's next slot, that task, taken already.
func (w *worker) afterRun(t *Task, done bool, err *slice.PanicError) (next *Task, kept bool) {
	if w.preempt.Load() && w.preempt.CompareAndSwap(true, false) {
		preemptRequests.Add(-1)
	}
	if !done {
		// afterSwitch's common case inline: a park, not woken meanwhile.
		if v := t.state.Load(); v&statusMask != stParking || !t.state.CompareAndSwap(v, v&^statusMask|stParked) {
			w.afterSwitch(t)
		}
		// The task in w's next slot runs now if the loop would pick it
		// anyway (not pollBusy's turn; takeNext checks the rest), and w
		// stays marked in a task from one resume to the next: a new resume
		// count and the in-task bit kept, one atomic add on seq per
		// hand-over rather than two. (No stopping check: the scheduler
		// stops only once no task is left, and next holds one.)
		if w.picks%8 == 0 {
			// pollBusy's turn: the loop
		} else if next = w.takeNext(); next != nil {
			// The monitor may have set detachedBit meanwhile, as below.
			if w.seq.Add(seqUnit)&detachedBit == 0 {
				return next, true
			}
			w.next.Swap(next) // back in the slot, which only w fills, for retire to pass on
			w.retire()
			return nil, false
		}
	}
	// The monitor may have set detachedBit meanwhile (a compare-and-swap
	// that expects inTaskBit): after this Add it cannot any more, and the
	// result says whether it did.
	kept = w.seq.Add(^uint64(inTaskBit-1))&detachedBit == 0
	if done {
		w.c.s.taskDone(t, err)
	}
	if !kept {
		w.retire()
	}
	return nil, kept
}

// goexit handles a task that called runtime.Goexit, which ends the
// worker's goroutine: the task is finished, and the carrier gets a new
// worker unless a stand-in serves it already.
func (w *worker) goexit(t *Task) {
	if w.preempt.Load() && w.preempt.CompareAndSwap(true, false) {
		preemptRequests.Add(-1)
	}
	kept := w.seq.Add(^uint64(inTaskBit-1))&detachedBit == 0
	t.finish(ErrGoexit)
	if !kept {
		w.retire()
		return
	}
	// w still serves its carrier (the monitor can no longer detach it: its
	// in-task bit is clear), which needs a successor.
	s := w.c.s
	nw := newWorker(w.c)
	w.c.w.Store(nw)
	w.leave()
	s.carrierWG.Add(1)
	go nw.loop()
}

// setRunning moves a dequeued task to stRunning, waiting out a Dump.
func (t *Task) setRunning() {
	for {
		v := t.state.Load()
		if v&inspectBit != 0 {
			runtime.Gosched()
			continue
		}
		if t.state.CompareAndSwap(v, v&^statusMask|stRunning) {
			return
		}
	}
}

// afterSwitch completes what the task started when it switched out: a
// yield puts it back in the queue; a park becomes stParked, unless a waker
// came first (stWoke), in which case the task is queued again.
func (w *worker) afterSwitch(t *Task) {
	c := w.c
	for {
		v := t.state.Load()
		switch v & statusMask {
		case stRunning: // Yield
			t.state.Store(v&^statusMask | stQueued)
			if t.flags.Load()&flagPreempted != 0 {
				// Preempted: behind everything else, as the Go
				// runtime does, so its carrier's queue cannot starve
				// the global one.
				t.flags.And(^flagPreempted)
				c.s.ready(t)
				return
			}
			c.pushLocal(t)
			return
		case stParking:
			if t.state.CompareAndSwap(v, v&^statusMask|stParked) {
				return
			}
		case stWoke:
			t.state.Store(v&^statusMask | stQueued)
			c.pushLocal(t)
			return
		default:
			panic("sched: internal error: task switched out in state " + itoa(v&statusMask))
		}
	}
}

// pushNext makes t the next task w runs; a task it displaces goes to the
// back of the carrier's queue. Only w's own goroutine calls it (from a
// task running on w): see worker.next.
func (w *worker) pushNext(t *Task) {
	c := w.c
	f := t.flags.Load() // one load for the pin and the priority
	if pin := int(f >> pinShift); pin != 0 && pin-1 != c.idx {
		c.s.carriers[pin-1].pushPinned(t)
		return
	}
	p := int(f >> prioShift & prioMask)
	oldPrio := w.nextPrio
	w.nextPrio = p // read only by this goroutine (findWork)
	if w.next.v.Load() == 0 {
		// Nobody but w fills the slot, and the monitor only empties a
		// full one: an empty slot is w's to fill without a swap.
		w.next.fillEmpty(t)
		return
	}
	old := w.next.Swap(t)
	if old == nil {
		return // the monitor took it meanwhile
	}
	c.mu.Lock()
	if old.pin() != 0 { // pinned to c, or it would not have been in next
		c.pinq[oldPrio].push(old)
		c.mask.Or(pinbit(oldPrio))
		c.mu.Unlock()
		return
	}
	c.q[oldPrio].push(old)
	c.mask.Or(qbit(oldPrio))
	c.mu.Unlock()
	c.s.queued(oldPrio)
}

// handOver passes on what a worker that stops serving its carrier holds:
// its next task goes to the carrier's queue, its spare waiter is dropped.
func (w *worker) handOver() {
	w.spare = nil
	if t := w.next.Swap(nil); t != nil {
		w.c.pushLocal(t) // pinned tasks go to their carrier's pinned queue
	}
}

// nextChainMax bounds a chain of picks from the next slot while the
// carrier's queue of the same priority has tasks: a pair of tasks that
// ready each other (a producer and its consumer, a ping-pong) runs from
// next at every pick and would keep that queue waiting for good on a
// carrier no other carrier steals from. The Go runtime bounds such a chain
// by time (the readied goroutine inherits the time slice); a count costs
// no clock read per pick.
const nextChainMax = 64

// findWork returns the next task to run: the highest priority first;
// within one, pinned tasks, then next (unless its chain is at
// nextChainMax and the local queue has a task), then the local queue, the
// global queue, and tasks stolen from other carriers.
func (w *worker) findWork() *Task {
	if t := w.takeNext(); t != nil {
		return t
	}
	w.picks++
	t, fromNext := w.pick()
	if fromNext {
		w.chain++
	} else {
		w.chain = 0
	}
	return t
}

// takeNext is findWork's fast path: the next slot's task, when pick would
// return it too because nothing it looks at first has a task: no queue of
// a higher priority, local, pinned or global (nrun), no pinned task of
// next's priority, not the global queue's turn, and, at the end of a
// chain, no task in the local queue of next's priority. It counts the
// pick (picks, chain) only when it returns a task; otherwise nil.
func (w *worker) takeNext() *Task {
	picks := w.picks + 1 // as pick would see it
	if w.next.Load() == nil || picks%61 == 0 {
		return nil
	}
	p := w.nextPrio & (numPrio - 1)
	block := nextBlockers[p]
	if w.chain >= nextChainMax && !unboundedNext {
		block |= qbit(p)
	}
	if w.c.mask.Load()&block != 0 {
		return nil
	}
	nrun := &w.c.s.nrun
	for q := range p {
		if nrun[q].Load() > 0 {
			return nil
		}
	}
	// Only this goroutine fills next, so the swap returns the task loaded
	// above, or nil if the monitor took it.
	t := w.next.Swap(nil)
	if t != nil {
		w.picks = picks
		w.chain++
	}
	return t
}

// nextBlockers[p] has the carrier.mask bits of the queues pick looks at
// before the next slot of a task of priority p: every queue of a higher
// priority, and the pinned queue of p.
var nextBlockers = func() (b [numPrio]uint32) {
	for p := range b {
		for q := 0; q < p; q++ {
			b[p] |= qbit(q) | pinbit(q)
		}
		b[p] |= pinbit(p)
	}
	return b
}()

// pick is findWork's look at the queues in order; fromNext reports that
// the task came from the next slot.
func (w *worker) pick() (t *Task, fromNext bool) {
	c := w.c
	s := c.s
	next := w.next.Load()
	for p := 0; p < numPrio; p++ {
		if w.picks%61 == 0 && s.nrun[p].Load() > 0 {
			// Now and then the global queue first, so that a carrier
			// busy with its own queue does not starve it.
			if t := s.popGlobal(p); t != nil {
				return t, false
			}
		}
		m := c.mask.Load()
		if m&pinbit(p) != 0 {
			if t := c.popPinned(p); t != nil {
				return t, false
			}
		}
		if next != nil && w.nextPrio == p {
			// Only this goroutine fills next, so a swap returns the
			// task loaded above, or nil if the monitor took it.
			if w.chain < nextChainMax || m&qbit(p) == 0 || unboundedNext {
				if t := w.next.Swap(nil); t != nil {
					return t, true
				}
				next = nil
			} else if t := c.popQueue(p); t != nil {
				return t, false // the chain yields to the queue once
			} else if t := w.next.Swap(nil); t != nil {
				return t, true // the queue was emptied meanwhile
			} else {
				next = nil
			}
		}
		if m&qbit(p) != 0 {
			if t := c.popQueue(p); t != nil {
				return t, false
			}
		}
		if s.nrun[p].Load() > 0 {
			if t := s.popGlobal(p); t != nil {
				return t, false
			}
			if t := c.steal(p); t != nil {
				return t, false
			}
		}
	}
	return nil, false
}

// goid returns the calling goroutine's id, parsed from the first line of
// its stack trace ("goroutine 42 [running]:"); a worker reads it once, so
// that Dump can find the stack of the task it runs.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = "goroutine "
	var id uint64
	if len(b) > len(prefix) && string(b[:len(prefix)]) == prefix {
		for _, ch := range b[len(prefix):] {
			if ch < '0' || ch > '9' {
				break
			}
			id = id*10 + uint64(ch-'0')
		}
	}
	return id
}

// workerTable holds a scheduler's live workers by index, so that a task
// names the worker that runs it in 4 bytes (Task.worker) and finds it with
// a few loads. Lookups are lock-free; add and remove take mu. An index is
// reused only after its worker has left, when no task refers to it.
type workerTable struct {
	mu   sync.Mutex
	tab  atomic.Pointer[[]atomic.Pointer[worker]]
	free []int32
}

func (wt *workerTable) get(i int32) *worker { return (*wt.tab.Load())[i].Load() }

func (wt *workerTable) add(w *worker) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	var tab []atomic.Pointer[worker]
	if p := wt.tab.Load(); p != nil {
		tab = *p
	}
	if n := len(wt.free); n > 0 {
		w.idx = wt.free[n-1]
		wt.free = wt.free[:n-1]
	} else {
		w.idx = int32(len(tab))
		bigger := make([]atomic.Pointer[worker], len(tab)+1) // copied: lookups go on in the old one
		for i := range tab {
			bigger[i].Store(tab[i].Load())
		}
		tab = bigger
		wt.tab.Store(&tab)
	}
	tab[w.idx].Store(w)
}

func (wt *workerTable) remove(w *worker) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	(*wt.tab.Load())[w.idx].Store(nil)
	wt.free = append(wt.free, w.idx)
}
