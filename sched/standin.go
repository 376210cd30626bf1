package sched

import "time"

// Stand-ins. A task that blocks outside the scheduler (time.Sleep, a Go
// channel, a sync.Mutex, a blocking system call, cgo) blocks the worker
// goroutine that runs it, and with it every task queued on its carrier:
// with one carrier, or all of them blocked, the scheduler would freeze,
// and a sync.Mutex held by a parked task would deadlock it for good. The
// Go runtime has the same problem with a thread blocked in a system call,
// and solves it by handing the thread's P to another thread. So does the
// scheduler. Its monitor looks at every busy carrier at each tick (an
// eighth of the time slice, at least 1ms): if the worker's goroutine is
// blocked (slice.Carrier.Blocked: the engine reads the goroutine's status)
// in the same resume at three ticks in a row, the monitor detaches the
// worker and starts a stand-in worker for the carrier. Where the engine
// cannot tell (the goroutine-backed fallback) and for a hog that never
// checkpoints, the time slice decides: when a task has run a slice without
// switching out, the monitor asks it to yield at its next Checkpoint, and
// if it is still running a tick later, the carrier gets a stand-in then.
// The detached worker finishes its task's switch-out when the task comes
// back (parks, yields or returns), passes on what it holds and exits, so
// the number of workers serving carriers never changes. A goroutine that
// waits for the garbage collector for a few ticks (an assist) looks
// blocked too; the stand-in it gets costs a goroutine start, nothing else.
//
// The number of detached workers alive at once is capped (WithStandIns);
// at the cap the monitor only hands the blocked carrier's queue to the
// other carriers, as it does for every task that overruns its slice.

// DefaultStandIns is how many carriers blocked outside the scheduler may
// be replaced at once unless WithStandIns says otherwise: as many as the
// Go runtime's default limit on threads (runtime/debug.SetMaxThreads), so
// that a server whose tasks block in system calls runs out of threads
// before it runs out of stand-ins.
const DefaultStandIns = 10000

// WithStandIns sets how many carriers blocked outside the scheduler may be
// replaced by stand-ins at once (default DefaultStandIns; 0: none, so that
// a task that blocks its carrier stops the carrier's other tasks).
func WithStandIns(max int) Option {
	return func(s *Scheduler) {
		if max < 0 {
			panic("sched: WithStandIns needs a count >= 0")
		}
		s.maxStandIns = max
	}
}

// standIn detaches w, found running one task since since at seq, from c,
// and starts a stand-in worker for c. It reports false if w came back
// meanwhile, or at the cap.
func (s *Scheduler) standIn(c *carrier, w *worker, seq uint64, since int64) bool {
	if int(s.standIns.Load()) >= s.maxStandIns || s.stopping.Load() {
		return false
	}
	w.blockedSince.Store(since)
	s.standMu.Lock()
	s.detached[w] = struct{}{} // before the CAS: w may retire right after it
	s.standMu.Unlock()
	if !w.seq.CompareAndSwap(seq, seq|detachedBit) {
		s.standMu.Lock()
		delete(s.detached, w)
		s.standMu.Unlock()
		return false
	}
	s.standIns.Add(1)
	s.standInsStarted.Add(1)
	nw := newWorker(c)
	c.w.Store(nw)
	// w's goroutine is alive (in its task), so the WaitGroup's count is
	// above zero: this Add cannot race with Close's Wait reaching zero.
	s.carrierWG.Add(1)
	go nw.loop()
	return true
}

// retire ends a worker that was detached while its task was blocked, once
// the task has switched out and been queued or finished.
func (w *worker) retire() {
	s := w.c.s
	w.leave()
	s.standMu.Lock()
	delete(s.detached, w)
	s.standMu.Unlock()
	s.standIns.Add(-1)
}

// blockedWorkers returns the workers detached from their carriers now.
func (s *Scheduler) blockedWorkers() []*worker {
	s.standMu.Lock()
	defer s.standMu.Unlock()
	ws := make([]*worker, 0, len(s.detached))
	for w := range s.detached {
		ws = append(ws, w)
	}
	return ws
}

// blockedFor says how long a detached worker's task has been running.
func (w *worker) blockedFor(now int64) time.Duration {
	return time.Duration(now - w.blockedSince.Load())
}
