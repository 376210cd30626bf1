package sched

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/stackslice/stackslice/slice"
)

// The primitives below share one shape: a sync.Mutex held only for a few
// instructions guards a count and a FIFO of waiters. A waiter is granted
// under that mutex before it is readied, so a cancellation that races
// with a grant loses: the waiter sees granted and keeps what it got.

type syncWaiter struct {
	w          Waker
	n          int64
	granted    bool
	next, prev *syncWaiter
}

type syncList struct{ head, tail *syncWaiter }

func (l *syncList) push(w *syncWaiter) {
	w.prev = l.tail
	if l.tail != nil {
		l.tail.next = w
	} else {
		l.head = w
	}
	l.tail = w
}

func (l *syncList) remove(w *syncWaiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		l.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		l.tail = w.prev
	}
	w.next, w.prev = nil, nil
}

// wait parks on l (whose guard mu the caller holds; wait unlocks it) and
// reports whether the waiter was granted; err is the park's error when not.
//
// It parks by itself (its frame is saved with the parked task), keeping
// little live across the yield.
func (l *syncList) wait(mu *sync.Mutex, ctx context.Context, reason reasonID, n int64, cancelable bool) (bool, error) {
	t := currentTask()
	kind := kindInternal
	if !cancelable {
		kind |= kindNoCancel
		ctx = nil
	}
	if t == nil || ctx != nil && !ignoreCtx(t, ctx) {
		return l.waitSlow(mu, ctx, reason, n, cancelable)
	}
	sw := &syncWaiter{n: n}
	sw.w = t.beginPark(reason, kind)
	l.push(sw)
	mu.Unlock()
	if t.state.Load()&statusMask != stWoke {
		slice.Yield()
	}
	if t.endPark() == causeReady {
		return true, nil
	}
	return l.abandon(mu, sw, t.cancelErr())
}

// waitSlow is wait for a goroutine, or with a ctx to watch.
//
//go:noinline
func (l *syncList) waitSlow(mu *sync.Mutex, ctx context.Context, reason reasonID, n int64, cancelable bool) (bool, error) {
	sw := &syncWaiter{n: n}
	arm := func(w Waker) bool {
		sw.w = w
		l.push(sw)
		mu.Unlock()
		return true
	}
	var err error
	if cancelable {
		err = parkInternal(ctx, reason, arm)
	} else {
		err = park(currentTask(), nil, reason, arm, kindInternal|kindNoCancel)
	}
	if err == nil {
		return true, nil
	}
	return l.abandon(mu, sw, err)
}

// abandon ends a wait that was not readied: unless sw was granted after
// all, it leaves the list and abandon returns false and err.
//
//go:noinline
func (l *syncList) abandon(mu *sync.Mutex, sw *syncWaiter, err error) (bool, error) {
	mu.Lock()
	defer mu.Unlock()
	if sw.granted {
		if dropGrant { // negative control: the grant is lost
			return false, err
		}
		return true, nil
	}
	l.remove(sw)
	return false, err
}

// A Semaphore is a weighted semaphore for tasks and goroutines; waiters
// are served in FIFO order.
type Semaphore struct {
	mu    sync.Mutex
	avail int64
	q     syncList
}

// NewSemaphore returns a semaphore with n units available.
func NewSemaphore(n int64) *Semaphore { return &Semaphore{avail: n} }

// Acquire takes n units, parking the task (blocking the goroutine) until
// they are available. It returns the task context's error if the task is
// cancelled first, having taken nothing.
func (s *Semaphore) Acquire(n int64) error { return s.AcquireCtx(nil, n) }

// AcquireCtx is Acquire that also gives up when ctx ends (ctx may be nil).
func (s *Semaphore) AcquireCtx(ctx context.Context, n int64) error {
	s.mu.Lock()
	if s.q.head == nil && s.avail >= n {
		s.avail -= n
		s.mu.Unlock()
		return nil
	}
	ok, err := s.q.wait(&s.mu, ctx, reasonSemacquire, n, true)
	if !ok {
		s.mu.Lock()
		ws := s.grantLocked() // the head may have left: others may fit now
		s.mu.Unlock()
		readyAll(ws)
	}
	return err
}

// TryAcquire takes n units if they are available at once.
func (s *Semaphore) TryAcquire(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.q.head == nil && s.avail >= n {
		s.avail -= n
		return true
	}
	return false
}

// Release returns n units.
func (s *Semaphore) Release(n int64) {
	s.mu.Lock()
	s.avail += n
	ws := s.grantLocked()
	s.mu.Unlock()
	readyAll(ws)
}

func (s *Semaphore) grantLocked() []*syncWaiter {
	var ws []*syncWaiter
	for w := s.q.head; w != nil && s.avail >= w.n; w = s.q.head {
		s.avail -= w.n
		w.granted = true
		s.q.remove(w)
		ws = append(ws, w)
	}
	return ws
}

func readyAll(ws []*syncWaiter) {
	for _, w := range ws {
		w.w.Ready()
	}
}

// A Mutex is a mutual exclusion lock for tasks (and goroutines): Lock
// parks the task instead of blocking its carrier. The zero Mutex is
// unlocked. Like sync.Mutex, it is a sync.Locker whose Lock cannot fail;
// LockCtx gives up when the task is cancelled or a context ends.
type Mutex struct {
	mu     sync.Mutex
	locked bool
	q      syncList
}

var _ sync.Locker = (*Mutex)(nil)

// Lock locks m, parking the task (blocking a goroutine) until it is free.
// As with sync.Mutex, it waits however long that takes, even for a task
// that is cancelled meanwhile: use LockCtx to give up.
func (m *Mutex) Lock() { m.lock(nil, false) }

// LockCtx locks m, parking until it is free, unless the task is cancelled
// or ctx (which may be nil) ends first: it then returns the context's
// error, without the lock.
func (m *Mutex) LockCtx(ctx context.Context) error { return m.lock(ctx, true) }

func (m *Mutex) lock(ctx context.Context, cancelable bool) error {
	m.mu.Lock()
	if !m.locked {
		m.locked = true
		m.mu.Unlock()
		return nil
	}
	_, err := m.q.wait(&m.mu, ctx, reasonMutex, 1, cancelable)
	return err
}

// TryLock locks m if it is free.
func (m *Mutex) TryLock() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locked {
		return false
	}
	m.locked = true
	return true
}

// Unlock unlocks m, handing it to the first waiter if there is one.
func (m *Mutex) Unlock() {
	m.mu.Lock()
	if !m.locked {
		m.mu.Unlock()
		panic("sched: Unlock of an unlocked Mutex")
	}
	w := m.q.head
	if w == nil {
		m.locked = false
		m.mu.Unlock()
		return
	}
	m.q.remove(w)
	w.granted = true // ownership passes directly: no barging
	m.mu.Unlock()
	w.w.Ready()
}

// A Cond is a condition variable for tasks, with a Mutex of this package.
type Cond struct {
	L  *Mutex
	mu sync.Mutex
	q  syncList
}

// NewCond returns a Cond using l.
func NewCond(l *Mutex) *Cond { return &Cond{L: l} }

// Wait unlocks c.L, parks until Signal or Broadcast, and locks c.L again
// before it returns, always (that re-lock ignores cancellation). It
// returns the task context's error if the task was cancelled while
// waiting.
func (c *Cond) Wait() error {
	c.mu.Lock()
	sw := &syncWaiter{}
	err := parkInternal(nil, reasonCondWait, func(w Waker) bool {
		sw.w = w
		c.q.push(sw)
		c.mu.Unlock()
		c.L.Unlock()
		return true
	})
	if err != nil {
		c.mu.Lock()
		if !sw.granted {
			c.q.remove(sw)
		} else {
			err = nil
		}
		c.mu.Unlock()
	}
	c.L.lock(nil, false)
	return err
}

// Signal wakes one waiter, if any.
func (c *Cond) Signal() {
	c.mu.Lock()
	w := c.q.head
	if w != nil {
		c.q.remove(w)
		w.granted = true
	}
	c.mu.Unlock()
	if w != nil {
		w.w.Ready()
	}
}

// Broadcast wakes every waiter.
func (c *Cond) Broadcast() {
	c.mu.Lock()
	var ws []*syncWaiter
	for w := c.q.head; w != nil; w = c.q.head {
		c.q.remove(w)
		w.granted = true
		ws = append(ws, w)
	}
	c.mu.Unlock()
	readyAll(ws)
}

// A WaitGroup waits for a collection of tasks (or goroutines) to finish.
//
// Its counter and the number of its waiters share one atomic word. While
// nobody waits, Add and Done are one compare-and-swap: spawning and
// finishing tasks counted by one WaitGroup do not queue on its mutex.
// Waiters are counted and queued under mu, and an Add that sees waiters
// takes mu too, so with waiters everything is serialized as before. The
// count is never below the number queued (a cancelled waiter uncounts
// itself after it has left), so a count of zero means nobody to wake.
type WaitGroup struct {
	mu    sync.Mutex
	state atomic.Int64 // counter<<32 | waiters
	q     syncList
}

// Add adds delta to the counter; when it reaches zero, waiters wake.
func (wg *WaitGroup) Add(delta int) {
	d := int64(delta) << 32
	for {
		v := wg.state.Load()
		if uint32(v) != 0 {
			break // waiters: under mu
		}
		if wg.state.CompareAndSwap(v, v+d) {
			if (v+d)>>32 < 0 {
				panic("sched: negative WaitGroup counter")
			}
			return
		}
	}
	wg.mu.Lock()
	v := wg.state.Add(d)
	if v>>32 < 0 {
		wg.mu.Unlock()
		panic("sched: negative WaitGroup counter")
	}
	var ws []*syncWaiter
	if v>>32 == 0 {
		for w := wg.q.head; w != nil; w = wg.q.head {
			wg.q.remove(w)
			w.granted = true
			ws = append(ws, w)
		}
		wg.state.Add(-int64(len(ws)))
	}
	wg.mu.Unlock()
	readyAll(ws)
}

// Done decrements the counter.
func (wg *WaitGroup) Done() { wg.Add(-1) }

// Wait parks until the counter is zero. It returns the task context's
// error if the task is cancelled first.
func (wg *WaitGroup) Wait() error {
	if wg.state.Load()>>32 == 0 {
		return nil
	}
	wg.mu.Lock()
	for {
		v := wg.state.Load()
		if v>>32 == 0 {
			wg.mu.Unlock()
			return nil
		}
		if wg.state.CompareAndSwap(v, v+1) {
			break
		}
	}
	ok, err := wg.q.wait(&wg.mu, nil, reasonWaitGroup, 0, true)
	if !ok {
		wg.state.Add(-1) // it has left the queue
	}
	return err
}
