package sched

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// A carrier is one goroutine that runs tasks: it resumes a task's
// coroutine on its own stack until the task yields, parks or returns.
//
// Its run queues are guarded by mu: one FIFO per priority for tasks others
// may steal and one per priority for tasks pinned to it; mask has a bit per
// non-empty queue so a look needs no lock.
//
// next is the task the running task readied last, which runs next (as in
// the Go runtime, this keeps a producer and its consumer on one carrier,
// and a task that readies another and parks hands its carrier straight to
// it). Only code running on the carrier's own goroutine fills or empties
// it, so it needs no lock: one atomic swap each way. The one other party is
// the monitor, which may take it away (handoff) with a compare-and-swap;
// whoever's atomic operation comes first has the task.
type carrier struct {
	s    *Scheduler
	idx  int
	mu   sync.Mutex
	q    [numPrio]queue
	pinq [numPrio]queue
	mask atomic.Uint32 // bit p: q[p]; bit 4+p: pinq[p]

	next     atomic.Pointer[Task] // see above
	nextPrio int                  // next's priority when it was put there; owner only
	spare    any                  // a Chan waiter for reuse (see takeWaiter); owner only

	cur      atomic.Pointer[Task] // the running task (or the last one: see run)
	switches atomic.Uint64        // resumes; the monitor watches it move
	preempt  atomic.Bool          // the monitor asks the running task to yield
	steals   atomic.Uint64
	picks    uint32        // findWork calls, owner only
	wake     chan struct{} // idle wake-up, buffered 1
	timer    *time.Timer   // the watcher's timeout

	// monitor state, touched only by the monitor
	lastTicks uint64
	since     int64

	_ cacheLinePad // the next carrier's fields start on a line of their own
}

func newCarrier(s *Scheduler, i int) *carrier {
	return &carrier{s: s, idx: i, wake: make(chan struct{}, 1)}
}

// allCarriers lists the carriers of every running scheduler, so that
// currentTask can find the task a coroutine belongs to: the one whose
// carrier is running it (or ran it last: see carrier.cur).
var (
	allCarriers   atomic.Pointer[[]*carrier]
	allCarriersMu sync.Mutex
)

func addCarriers(cs []*carrier) {
	allCarriersMu.Lock()
	defer allCarriersMu.Unlock()
	var l []*carrier
	if p := allCarriers.Load(); p != nil {
		l = append(l, *p...)
	}
	l = append(l, cs...)
	allCarriers.Store(&l)
}

func removeCarriers(cs []*carrier) {
	allCarriersMu.Lock()
	defer allCarriersMu.Unlock()
	p := allCarriers.Load()
	if p == nil {
		return
	}
	var l []*carrier
	for _, c := range *p {
		if c.s != cs[0].s {
			l = append(l, c)
		}
	}
	allCarriers.Store(&l)
}

// currentTask returns the task the caller runs in, or nil. A coroutine
// nested inside a task (a slice.Pull iterator, say) is not the task: code
// there blocks its carrier rather than parking.
//
// A carrier's cur may still name the task it ran last, which may run on
// another carrier by now; the match is on the running coroutine, which is
// the task's alone, so it finds the right task either way.
func currentTask() *Task {
	co := slice.Current()
	if co == nil {
		return nil
	}
	if p := allCarriers.Load(); p != nil {
		for _, c := range *p {
			if t := c.cur.Load(); t != nil && t.co == co {
				return t
			}
		}
	}
	return nil
}

// currentCarrier returns the carrier of s the caller runs on as a task, or nil.
func (s *Scheduler) currentCarrier() *carrier {
	if t := currentTask(); t != nil && t.s == s {
		return s.carriers[t.carrier]
	}
	return nil
}

// carrierOf returns the carrier running t, which must be the calling task.
func (s *Scheduler) carrierOf(t *Task) *carrier {
	if t == nil || t.s != s {
		return nil
	}
	return s.carriers[t.carrier]
}

// loop is the carrier goroutine.
func (c *carrier) loop() {
	defer c.s.carrierWG.Done()
	for !c.s.stopping.Load() {
		if c.picks%8 == 0 {
			c.s.pollBusy()
		}
		if t := c.findWork(); t != nil {
			c.run(t)
			continue
		}
		if c.cur.Load() != nil {
			c.cur.Store(nil) // see run
		}
		c.idle()
	}
}

// run resumes t until it yields, parks or finishes.
//
// cur is set only when it changes and cleared only when the carrier goes
// idle (each atomic store is a locked instruction): between tasks it still
// names the last one. currentTask is right regardless (it matches the
// running coroutine), and the monitor sees the switch counter move.
func (c *carrier) run(t *Task) {
	t.setRunning()
	if t.flags.Load()&flagPacked != 0 {
		t.flags.And(^flagPacked) // unpacked by this resume: the sweeper may look again
	}
	if c.cur.Load() != t {
		c.cur.Store(t)
	}
	t.carrier = int32(c.idx)
	c.switches.Add(1)
	done, err := c.resume(t)
	if c.preempt.Load() && c.preempt.CompareAndSwap(true, false) {
		preemptRequests.Add(-1)
	}
	if done {
		t.finish(err)
		return
	}
	// An atomic store is a locked instruction on amd64: skip it when the
	// size is unchanged, as it is for a task that parks at the same place.
	sz := uint32(t.co.Size())
	if sz != t.size.Load() {
		t.size.Store(sz)
	}
	if sz > t.peak.Load() {
		t.peak.Store(sz)
	}
	c.afterSwitch(t)
}

// resume runs the coroutine, turning a panic into the task's result. If
// the task calls runtime.Goexit, the carrier goroutine itself is exiting:
// the deferred function finishes the task and starts a replacement.
func (c *carrier) resume(t *Task) (done bool, err error) {
	normal := false
	defer func() {
		if normal {
			return
		}
		if r := recover(); r != nil {
			pe, ok := r.(*slice.PanicError)
			if !ok {
				pe = &slice.PanicError{Value: r}
			}
			done, err = true, pe
			return
		}
		c.cur.Store(nil)
		t.finish(ErrGoexit)
		c.s.carrierWG.Add(1)
		go c.loop()
	}()
	done = t.co.Resume()
	normal = true
	return done, nil
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
func (c *carrier) afterSwitch(t *Task) {
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

// pushNext makes t the next task c runs; a task it displaces goes to the
// back of the queue. Only the carrier's own goroutine calls it (from a task
// running on c): see carrier.next.
func (c *carrier) pushNext(t *Task) {
	if t.pin() != 0 && t.pin()-1 != c.idx {
		c.s.carriers[t.pin()-1].pushPinned(t)
		return
	}
	p := t.prio()
	oldPrio := c.nextPrio
	c.nextPrio = p // read only by this goroutine (findWork)
	old := c.next.Swap(t)
	if old == nil {
		return
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

// ready queues a woken task: after the running task on the same carrier
// if a task of s readied it, else on the global queue.
func (s *Scheduler) ready(t *Task) {
	if c := s.currentCarrier(); c != nil {
		c.pushNext(t)
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

// findWork returns the next task to run: the highest priority first;
// within one, pinned tasks, then next, then the local queue, the global
// queue, and tasks stolen from other carriers.
func (c *carrier) findWork() *Task {
	s := c.s
	c.picks++
	next := c.next.Load()
	for p := 0; p < numPrio; p++ {
		if c.picks%61 == 0 && s.nrun[p].Load() > 0 {
			// Now and then the global queue first, so that a carrier
			// busy with its own queue does not starve it.
			if t := s.popGlobal(p); t != nil {
				return t
			}
		}
		m := c.mask.Load()
		if m&pinbit(p) != 0 {
			if t := c.popPinned(p); t != nil {
				return t
			}
		}
		if next != nil && c.nextPrio == p {
			// Only this goroutine fills next, so the swap returns the
			// task loaded above, or nil if the monitor took it.
			if t := c.next.Swap(nil); t != nil {
				return t
			}
			next = nil
		}
		if m&qbit(p) != 0 {
			if t := c.popQueue(p); t != nil {
				return t
			}
		}
		if s.nrun[p].Load() > 0 {
			if t := s.popGlobal(p); t != nil {
				return t
			}
			if t := c.steal(p); t != nil {
				return t
			}
		}
	}
	return nil
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
	if t := c.next.Load(); t != nil && t.pin() == 0 && c.next.CompareAndSwap(t, nil) {
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
	if c.mask.Load() != 0 || c.next.Load() != nil {
		return true
	}
	for p := range c.s.nrun {
		if c.s.nrun[p].Load() > 0 {
			return true
		}
	}
	return false
}

// maxIdleWait bounds an idle watcher's sleep, so that a timer added from
// outside the scheduler while every carrier sleeps is seen within it.
const maxIdleWait = 50 * time.Millisecond

// idle sleeps until there may be work. The first idle carrier becomes the
// watcher: it runs due timers and sleeps until the next one, in the poller
// if there is one. The others sleep until woken.
func (c *carrier) idle() {
	s := c.s
	s.idleMu.Lock()
	watcher := s.watcher == nil
	if watcher {
		s.watcher = c
	} else {
		s.idleList = append(s.idleList, c)
	}
	all := s.nidle.Add(1) == int32(s.ncarriers)
	s.idleMu.Unlock()
	defer c.leaveIdle(watcher)
	if c.runnable() || s.stopping.Load() {
		return
	}
	if all {
		s.pokeRun()
	}
	if !watcher {
		<-c.wake
		return
	}
	if s.advanceTimers() > 0 && c.runnable() {
		return
	}
	d := time.Duration(-1)
	if next, ok := s.wheel.Next(); ok {
		d = next
	}
	if d < 0 || d > maxIdleWait {
		d = maxIdleWait
	}
	if p := s.poller.Load(); p != nil {
		(*p).Poll(d)
	} else {
		c.sleep(d)
	}
	s.advanceTimers()
}

func (c *carrier) sleep(d time.Duration) {
	if d == 0 {
		return
	}
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	select {
	case <-c.wake:
		c.timer.Stop()
	case <-c.timer.C:
	}
}

func (c *carrier) leaveIdle(watcher bool) {
	s := c.s
	s.idleMu.Lock()
	if watcher {
		s.watcher = nil
	} else {
		for i, x := range s.idleList {
			if x == c {
				s.idleList = append(s.idleList[:i], s.idleList[i+1:]...)
				break
			}
		}
	}
	s.nidle.Add(-1)
	s.idleMu.Unlock()
	s.coarse.Store(nanotime())
	if s.monSleeping.Load() {
		s.wakeMonitor()
	}
}

// wakeOne wakes an idle carrier: a sleeper if there is one, else the
// watcher (through the poller if it polls).
func (s *Scheduler) wakeOne() {
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	if n := len(s.idleList); n > 0 {
		c := s.idleList[n-1]
		s.idleList = s.idleList[:n-1]
		poke(c.wake)
		return
	}
	if s.watcher != nil {
		s.wakeWatcherLocked()
	}
}

func (s *Scheduler) wakeWatcherLocked() {
	if p := s.poller.Load(); p != nil {
		(*p).Wake()
	}
	poke(s.watcher.wake)
}

// wakeCarrier wakes c if it is idle (for a task pinned to it).
func (s *Scheduler) wakeCarrier(c *carrier) {
	if s.nidle.Load() == 0 {
		return
	}
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	if s.watcher == c {
		s.wakeWatcherLocked()
		return
	}
	poke(c.wake)
}

func (s *Scheduler) wakeAllLocked() {
	for _, c := range s.idleList {
		poke(c.wake)
	}
	if s.watcher != nil {
		s.wakeWatcherLocked()
	}
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// idleNow reports whether every carrier is idle with nothing queued.
func (s *Scheduler) idleNow() bool {
	if s.nidle.Load() != int32(s.ncarriers) {
		return false
	}
	for _, c := range s.carriers {
		if c.runnable() {
			return false
		}
	}
	return true
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

func (s *Scheduler) switches() uint64 {
	var n uint64
	for _, c := range s.carriers {
		n += c.switches.Load()
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
