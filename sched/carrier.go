package sched

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// A carrier is one of the scheduler's fixed places to run tasks, like a P
// in the Go runtime: run queues, the idle wake-up, and the monitor's view
// of it. A worker (worker.go), like an M, is the goroutine that serves it:
// it takes a task from the carrier's queues and resumes its coroutine on
// its own stack. One worker serves a carrier at a time; when a task blocks
// its worker outside the scheduler, the monitor hands the carrier to a
// stand-in worker (standin.go).
//
// The run queues are guarded by mu: one FIFO per priority for tasks others
// may steal and one per priority for tasks pinned to the carrier; mask has
// a bit per non-empty queue so a look needs no lock.
type carrier struct {
	s    *Scheduler
	idx  int
	mu   sync.Mutex
	q    [numPrio]queue
	pinq [numPrio]queue
	mask atomic.Uint32 // bit p: q[p]; bit 4+p: pinq[p]

	w      atomic.Pointer[worker] // the worker serving the carrier now
	steals atomic.Uint64
	wake   chan struct{} // idle wake-up, buffered 1
	timer  *time.Timer   // the watcher's timeout; used by the serving worker only

	// monitor state, touched only by the monitor (monitor.go)
	lastW   *worker
	lastSeq uint64
	since   int64 // when the monitor first saw lastW at lastSeq
	stage   int   // what the monitor did about the task running since then
	// blockedTicks counts the ticks in a row at which the worker's
	// goroutine was blocked in that resume.
	blockedTicks int

	_ cacheLinePad // the next carrier's fields start on a line of their own
}

func newCarrier(s *Scheduler, i int) *carrier {
	c := &carrier{s: s, idx: i, wake: make(chan struct{}, 1)}
	c.w.Store(newWorker(c))
	return c
}

// Queue bits in carrier.mask.
func qbit(p int) uint32   { return 1 << p }
func pinbit(p int) uint32 { return 1 << (4 + p) }

// pushLocal queues t at the back of c's queue for its priority (its pinned
// carrier's, if pinned).
func (c *carrier) pushLocal(t *Task) {
	if t.pin() != 0 {
		c.s.carriers[t.pin()-1].pushPinned(t)
		return
	}
	p := t.prio()
	c.mu.Lock()
	c.q[p].push(t)
	c.mask.Or(qbit(p))
	c.mu.Unlock()
	c.s.queued(p)
}

func (c *carrier) pushPinned(t *Task) {
	p := t.prio()
	c.mu.Lock()
	c.pinq[p].push(t)
	c.mask.Or(pinbit(p))
	c.mu.Unlock()
	c.s.wakeCarrier(c)
}

// queued accounts for a stealable task queued at priority p and wakes an
// idle carrier to take it. The counter is raised before idle carriers are
// looked at; an idle carrier registers before it looks at the counters, so
// one of the two sees the other.
func (s *Scheduler) queued(p int) {
	s.nrun[p].Add(1)
	if s.nidle.Load() > 0 {
		s.wakeOne()
	}
}

// ready queues a woken task: after the running task on the same worker
// if a task of s readied it, else on the global queue.
func (s *Scheduler) ready(t *Task) {
	if w := s.lastWorkerHere(t); w != nil {
		w.pushNext(t)
		return
	}
	if w := s.currentWorker(); w != nil {
		w.pushNext(t)
		return
	}
	s.readyOutside(t)
}

// readyOutside is ready called from outside the tasks of s.
func (s *Scheduler) readyOutside(t *Task) {
	if t.pin() != 0 {
		s.carriers[t.pin()-1].pushPinned(t)
		return
	}
	p := t.prio()
	s.gmu.Lock()
	s.global[p].push(t)
	s.gmu.Unlock()
	s.queued(p)
}

func (c *carrier) popPinned(p int) *Task {
	c.mu.Lock()
	t := c.pinq[p].pop()
	if c.pinq[p].len() == 0 {
		c.mask.And(^pinbit(p))
	}
	c.mu.Unlock()
	return t
}

func (c *carrier) popQueue(p int) *Task {
	c.mu.Lock()
	t := c.q[p].pop()
	if c.q[p].len() == 0 {
		c.mask.And(^qbit(p))
	}
	c.mu.Unlock()
	if t != nil {
		c.s.nrun[p].Add(-1)
	}
	return t
}

func (s *Scheduler) popGlobal(p int) *Task {
	s.gmu.Lock()
	t := s.global[p].pop()
	s.gmu.Unlock()
	if t != nil {
		s.nrun[p].Add(-1)
	}
	return t
}

// steal takes half of another carrier's queue at priority p, runs the
// first task and keeps the rest.
func (c *carrier) steal(p int) *Task {
	s := c.s
	n := len(s.carriers)
	start := int(cheapRand() % uint32(n))
	for i := 0; i < n; i++ {
		v := s.carriers[(start+i)%n]
		if v == c || v.mask.Load()&qbit(p) == 0 {
			continue
		}
		v.mu.Lock()
		k := (v.q[p].len() + 1) / 2
		var got []*Task
		for j := 0; j < k; j++ {
			got = append(got, v.q[p].pop())
		}
		if v.q[p].len() == 0 {
			v.mask.And(^qbit(p))
		}
		v.mu.Unlock()
		if len(got) == 0 {
			continue
		}
		c.steals.Add(1)
		s.nrun[p].Add(-1)
		if len(got) > 1 {
			c.mu.Lock()
			for _, t := range got[1:] {
				c.q[p].push(t)
			}
			c.mask.Or(qbit(p))
			c.mu.Unlock()
		}
		return got[0]
	}
	return nil
}

// handoff moves c's stealable tasks, including next, to the global queue:
// the monitor does it when c's task hogs it.
func (c *carrier) handoff() int {
	s := c.s
	var moved [numPrio][]*Task
	n := 0
	c.mu.Lock()
	for p := range c.q {
		for t := c.q[p].pop(); t != nil; t = c.q[p].pop() {
			moved[p] = append(moved[p], t)
			n++
		}
		c.mask.And(^qbit(p))
	}
	c.mu.Unlock()
	var next *Task
	w := c.w.Load()
	if t := w.next.Load(); t != nil && t.pin() == 0 && w.next.CompareAndSwap(t, nil) {
		next = t
	}
	if n == 0 && next == nil {
		return 0
	}
	s.gmu.Lock()
	for p := range moved {
		for _, t := range moved[p] {
			s.global[p].push(t) // still counted in nrun[p]
		}
	}
	s.gmu.Unlock()
	if next != nil {
		n++
		p := next.prio()
		s.gmu.Lock()
		s.global[p].push(next)
		s.gmu.Unlock()
		s.nrun[p].Add(1)
	}
	for i := 0; i < n && s.nidle.Load() > 0; i++ {
		s.wakeOne()
	}
	return n
}

// runnable reports whether c could find work.
func (c *carrier) runnable() bool {
	if c.mask.Load() != 0 || c.w.Load().next.Load() != nil {
		return true
	}
	for p := range c.s.nrun {
		if c.s.nrun[p].Load() > 0 {
			return true
		}
	}
	return false
}

// advanceTimers runs due timers, if no other goroutine is doing it, and
// returns how many fired.
func (s *Scheduler) advanceTimers() int {
	if !s.timerRun.CompareAndSwap(false, true) {
		return 0
	}
	defer s.timerRun.Store(false)
	return s.wheel.Advance(time.Now())
}

// switches counts resumes: those of the workers serving the carriers now,
// of the detached ones, and of those that have retired.
func (s *Scheduler) switches() uint64 {
	n := s.retiredSwitches.Load()
	for _, c := range s.carriers {
		n += c.w.Load().switches()
	}
	for _, w := range s.blockedWorkers() {
		n += w.switches()
	}
	return n
}

var randState atomic.Uint32

// cheapRand spreads steal attempts; quality does not matter.
func cheapRand() uint32 {
	x := randState.Add(0x9e3779b9)
	return bits.RotateLeft32(x*0x85ebca6b, 13)
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}
