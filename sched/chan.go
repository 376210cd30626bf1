package sched

import (
	"context"
	"errors"
	"iter"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/stackslice/stackslice/slice"
)

// ErrChanClosed is returned by Send on a closed Chan, and by Recv on a
// closed Chan whose buffer is empty.
var ErrChanClosed = errors.New("sched: Chan is closed")

// A Chan is a channel between tasks, and between tasks and goroutines:
// Send and Recv park a task and block a goroutine. Buffered (capacity > 0)
// or unbuffered; Close wakes every waiter. Blocking operations return the
// context's error when the calling task is cancelled (or, for the Ctx
// variants, when their ctx ends); an operation that completed is never
// undone by a cancellation that comes after it.
type Chan[T any] struct {
	// Internally it is Go's channel algorithm: a ring buffer and queues of
	// waiters, one mutex. A counterpart must claim a waiter before
	// completing its operation, and a cancelled waiter must claim itself
	// (abandon) before leaving, which lets it leave without losing a
	// value. A select's waiter belongs to the select's selector, claimed
	// with a CAS, which is what lets one task wait on several Chans
	// (Select); a single operation's waiter lives in one queue only, so its
	// claim is a flag under the Chan's mutex.

	mu           sync.Mutex
	buf          []T
	head, n      int
	closed       bool
	recvq, sendq waitq[T]
}

// NewChan returns a Chan with the given buffer capacity (0: unbuffered).
func NewChan[T any](capacity int) *Chan[T] {
	if capacity < 0 {
		panic("sched: NewChan with a negative capacity")
	}
	return &Chan[T]{buf: make([]T, capacity)}
}

// selector is the shared fate of the waiters of one blocking operation:
// fired is -1 while pending, then the index of the case that completed, or
// -2 if the operation was abandoned (cancelled). -3 marks a selector held
// for a moment while a select pairs it with another select's waiter (see
// pairClaim); everyone else waits that out instead of taking it as fired,
// so a waiter is only ever dropped for good reason.
type selector struct {
	w     Waker
	fired atomic.Int32
}

const (
	selPending   = -1
	selAbandoned = -2
	selBusy      = -3
)

func newSelector() *selector {
	s := new(selector)
	s.fired.Store(selPending)
	return s
}

// claim moves s from pending to fired case i; false if it is not pending.
func (s *selector) claim(i int32) bool {
	for {
		switch v := s.fired.Load(); v {
		case selBusy:
			runtime.Gosched()
		case selPending:
			if s.fired.CompareAndSwap(selPending, i) {
				return true
			}
		default:
			return false
		}
	}
}

// hold moves s from pending to busy; false if it is not pending.
func (s *selector) hold() bool {
	for {
		switch v := s.fired.Load(); v {
		case selBusy:
			runtime.Gosched()
		case selPending:
			if s.fired.CompareAndSwap(selPending, selBusy) {
				return true
			}
		default:
			return false
		}
	}
}

// Outcomes of pairClaim.
const (
	pairBoth   = iota // both claimed: complete the exchange
	pairTheirs        // their selector is gone: drop their waiter
	pairOurs          // ours is gone: our select has completed elsewhere
)

// pairClaim claims our selector (nil for a single operation, which needs
// no claim) as case ai together with theirs as case bi, both or neither.
// Two selects may pair with each other from two Chans at once, so the two
// are held in address order.
func pairClaim(a *selector, ai int32, b *selector, bi int32) int {
	if a == nil {
		if b.claim(bi) {
			return pairBoth
		}
		return pairTheirs
	}
	first, second := a, b
	if uintptr(unsafe.Pointer(b)) < uintptr(unsafe.Pointer(a)) {
		first, second = b, a
	}
	if !first.hold() {
		if first == a {
			return pairOurs
		}
		return pairTheirs
	}
	if !second.hold() {
		first.fired.Store(selPending)
		if second == a {
			return pairOurs
		}
		return pairTheirs
	}
	a.fired.Store(ai)
	b.fired.Store(bi)
	return pairBoth
}

// pairSingle is pairClaim for their waiter of a single operation, whose
// claim is its done flag (the caller holds the Chan's lock, which guards
// it): our selector (nil for a single operation) as case ai, and theirs.
func pairSingle(a *selector, ai int32, done *bool) int {
	if *done {
		return pairTheirs
	}
	if a != nil && !a.claim(ai) {
		return pairOurs
	}
	*done = true
	return pairBoth
}

// waiter is one task or goroutine waiting in one Chan's queue: a case of
// a select (sel set), or a single operation (sel nil), which is readied
// through wk and claimed by setting done.
type waiter[T any] struct {
	sel        *selector // the select's; nil for a single operation
	wk         Waker     // a single operation's
	idx        int32
	queued     bool
	done       bool // single operation: claimed; guarded by the Chan's mutex
	ok         bool // recv: a value was received (not closed)
	closed     bool // send: the Chan was closed
	v          T
	next, prev *waiter[T]
}

// claim claims w for its counterpart (or, with a select, for whoever
// passes the select's claim: see selector); the Chan is locked.
func (w *waiter[T]) claim() bool {
	if w.sel == nil {
		if w.done {
			return false
		}
		w.done = true
		return true
	}
	return w.sel.claim(w.idx)
}

// waker returns the Waker of w's task or goroutine. A counterpart copies it
// before it unlocks the Chan: afterwards a finished single operation's
// waiter may be reused (see parkWaiter).
func (w *waiter[T]) waker() Waker {
	if w.sel == nil {
		return w.wk
	}
	return w.sel.w
}

type waitq[T any] struct{ head, tail *waiter[T] }

func (q *waitq[T]) push(w *waiter[T]) {
	w.queued = true
	w.prev, w.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
}

func (q *waitq[T]) remove(w *waiter[T]) {
	if !w.queued {
		return
	}
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.next, w.prev, w.queued = nil, nil, false
}

// claimFirst dequeues the first waiter whose selector it wins, dropping
// waiters of selects that completed elsewhere or were abandoned.
func (q *waitq[T]) claimFirst() *waiter[T] {
	for w := q.head; w != nil; w = q.head {
		q.remove(w)
		if w.claim() {
			return w
		}
	}
	return nil
}

// pair finds the first waiter of q that can complete together with our
// operation (sel, idx: see pairClaim), dequeued. lost reports that our
// own selector has completed elsewhere.
func (q *waitq[T]) pair(sel *selector, idx int32) (w *waiter[T], lost bool) {
	// The common case inline: an empty queue, or a single operation (ours)
	// meeting a single operation at the head, which needs no selector.
	w = q.head
	if w == nil {
		return nil, false
	}
	if sel == nil && w.sel == nil && !w.done {
		w.done = true
		q.popHead(w)
		return w, false
	}
	return q.pairSlow(sel, idx)
}

// popHead dequeues w, the head of q.
func (q *waitq[T]) popHead(w *waiter[T]) {
	q.head = w.next
	if w.next != nil {
		w.next.prev = nil
		w.next = nil
	} else {
		q.tail = nil
	}
	w.queued = false
}

// pairSlow is pair past its common case.
func (q *waitq[T]) pairSlow(sel *selector, idx int32) (w *waiter[T], lost bool) {
	for w := q.head; w != nil; {
		next := w.next
		var res int
		switch {
		case w.sel == nil:
			res = pairSingle(sel, idx, &w.done)
		case w.sel == sel: // our own select's other case
			w = next
			continue
		default:
			res = pairClaim(sel, idx, w.sel, w.idx)
		}
		switch res {
		case pairBoth:
			q.remove(w)
			return w, false
		case pairOurs:
			return nil, true
		}
		q.remove(w)
		w = next
	}
	return nil, false
}

// Cap returns the buffer capacity.
func (c *Chan[T]) Cap() int { return len(c.buf) }

// Len returns the number of buffered values.
func (c *Chan[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Close closes the Chan: receivers get the buffered values, then
// ErrChanClosed; blocked senders get ErrChanClosed. Closing twice panics.
func (c *Chan[T]) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		panic("sched: close of a closed Chan")
	}
	c.closed = true
	// The Wakers are copied under the lock: once it is released, a woken
	// waiter may be reused (see parkWaiter).
	var woken []Waker
	for w := c.recvq.claimFirst(); w != nil; w = c.recvq.claimFirst() {
		woken = append(woken, w.waker())
	}
	for w := c.sendq.claimFirst(); w != nil; w = c.sendq.claimFirst() {
		w.closed = true
		woken = append(woken, w.waker())
	}
	c.mu.Unlock()
	for _, w := range woken {
		w.Ready()
	}
}

// Send sends v, parking the task (blocking the goroutine) until a receiver
// or buffer space takes it. It returns ErrChanClosed if the Chan is
// closed, or the task context's error if the task is cancelled first.
func (c *Chan[T]) Send(v T) error { return c.send(nil, v) }

// SendCtx is Send that also gives up when ctx ends (ctx may be nil).
func (c *Chan[T]) SendCtx(ctx context.Context, v T) error { return c.send(ctx, v) }

func (c *Chan[T]) send(ctx context.Context, v T) error {
	c.mu.Lock()
	if res, err := c.trySendLocked(v, nil, 0); res == tryDone {
		return err
	}
	// The rest parks: this frame is saved with the parked task, so it
	// parks by itself, keeping little live across the yield.
	t := currentTask()
	if t == nil || ctx != nil && !ignoreCtx(t, ctx) {
		return c.sendPark(ctx, v)
	}
	w := parkWaiter[T](t, reasonChanSend)
	w.v = v
	c.sendq.push(w)
	c.mu.Unlock()
	if t.state.Load()&statusMask != stWoke {
		slice.Yield()
	}
	return sendEnd(c, w)
}

// sendEnd ends a parked send: its result, and its waiter recycled. The
// task comes from the waiter's Waker (w.wk.t, set by send and not cleared
// until putWaiter), so that send keeps only c and w live across the yield:
// every pointer word there is classified, restored and cleared again at
// each park. Out of line, like parkWaiter, so that send's frame stays as
// small.
//
//go:noinline
func sendEnd[T any](c *Chan[T], w *waiter[T]) error {
	t := w.wk.t
	if cause := t.endParkInline(); cause != causeReady && c.abandon(w, &c.sendq) {
		putWaiter(t, w)
		return t.cancelErr()
	}
	closed := w.closed
	putWaiter(t, w)
	if closed {
		return ErrChanClosed
	}
	return nil
}

// sendPark is send's parking for a goroutine or with a ctx to watch; c is
// locked.
//
//go:noinline
func (c *Chan[T]) sendPark(ctx context.Context, v T) error {
	w := &waiter[T]{v: v}
	err := park(currentTask(), ctx, reasonChanSend, func(wk Waker) bool {
		w.wk = wk
		c.sendq.push(w)
		c.mu.Unlock()
		return true
	}, kindInternal)
	if !c.finish(w, err, &c.sendq) {
		return err
	}
	if w.closed {
		return ErrChanClosed
	}
	return nil
}

// parkWaiter begins t's park for a single Chan operation (as
// Task.beginPark does) and returns a waiter for it, its Waker set: the
// spare of the worker running t, or a new one. Like worker.next, the spare
// is touched only by code running on its worker, so it needs no
// synchronization; a task that parks on Chans of one element type over and
// over (a producer and its consumer) allocates no waiter per operation.
// Out of line, to keep the frames of send and recv (saved with every
// parked task) small, and one call for both jobs.
//
//go:noinline
func parkWaiter[T any](t *Task, reason reasonID) *waiter[T] {
	c := t.runningOn()
	w, ok := c.spare.(*waiter[T])
	if ok {
		c.spare = nil
	} else {
		w = new(waiter[T])
	}
	wk := t.publishPark(reason, kindInternal)
	if t.canceled() {
		wk.wake(causeCancel)
	}
	w.wk = wk
	return w
}

// putWaiter makes the waiter of t's finished single operation the spare
// of the worker t runs on (see parkWaiter). Nobody else refers to the
// waiter any more: it has left its queue (a counterpart dequeued it, or
// abandon removed it, under the Chan's lock), and counterparts copy its
// Waker before they unlock instead of reading it afterwards. (Only
// sendEnd and recvEnd call it, whose frames are not saved: it may be
// inlined there.)
func putWaiter[T any](t *Task, w *waiter[T]) {
	*w = waiter[T]{}
	t.runningOn().spare = w
}

// Results of the try functions.
const (
	tryNotReady = iota // c still locked
	tryDone            // completed; c unlocked
	tryLost            // sel completed elsewhere; c still locked
)

// trySendLocked completes a send if it can without waiting, unlocking c
// then. sel is nil for a single operation; for a select it must be won.
func (c *Chan[T]) trySendLocked(v T, sel *selector, idx int32) (int, error) {
	if c.closed {
		if sel != nil && !sel.claim(idx) {
			return tryLost, nil
		}
		c.mu.Unlock()
		return tryDone, ErrChanClosed
	}
	r, lost := c.recvq.pair(sel, idx)
	if lost {
		return tryLost, nil
	}
	if r != nil {
		r.v, r.ok = v, true
		wk := r.waker() // r may be reused once c is unlocked
		c.mu.Unlock()
		wk.Ready()
		return tryDone, nil
	}
	if c.n == len(c.buf) {
		return tryNotReady, nil
	}
	if sel != nil && !sel.claim(idx) {
		return tryLost, nil
	}
	c.buf[(c.head+c.n)%len(c.buf)] = v
	c.n++
	c.mu.Unlock()
	return tryDone, nil
}

// finish ends a single parked operation: if a counterpart completed it,
// it counts (whatever err says) and finish reports true; otherwise the
// waiter leaves the queue and finish reports false.
func (c *Chan[T]) finish(w *waiter[T], err error, q *waitq[T]) bool {
	if err == nil {
		return true // readied: a counterpart completed it
	}
	return !c.abandon(w, q)
}

// abandon ends a single parked operation that was not readied: unless a
// counterpart completed it after all, the waiter leaves the queue and
// abandon reports true.
//
//go:noinline
func (c *Chan[T]) abandon(w *waiter[T], q *waitq[T]) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.claim() || dropChanClaim { // dropChanClaim: negative control
		q.remove(w)
		return true
	}
	return false
}

// Recv receives a value, parking the task (blocking the goroutine) until
// one is available. It returns ErrChanClosed once the Chan is closed and
// drained, or the task context's error if the task is cancelled first.
func (c *Chan[T]) Recv() (T, error) { return c.recv(nil) }

// RecvCtx is Recv that also gives up when ctx ends (ctx may be nil).
func (c *Chan[T]) RecvCtx(ctx context.Context) (T, error) { return c.recv(ctx) }

func (c *Chan[T]) recv(ctx context.Context) (T, error) {
	c.mu.Lock()
	// Whether it can complete, checked inline first: a receive that parks
	// (as each does in a ping-pong) makes no call for it.
	if c.n > 0 || c.sendq.head != nil || c.closed {
		if v, ok, res := c.tryRecvLocked(nil, 0); res == tryDone {
			if !ok {
				return v, ErrChanClosed
			}
			return v, nil
		}
	}
	// The rest parks: see send.
	t := currentTask()
	if t == nil || ctx != nil && !ignoreCtx(t, ctx) {
		return c.recvPark(ctx)
	}
	w := parkWaiter[T](t, reasonChanRecv)
	c.recvq.push(w)
	c.mu.Unlock()
	if t.state.Load()&statusMask != stWoke {
		slice.Yield()
	}
	return recvEnd(c, w)
}

// recvEnd ends a parked receive: its result, and its waiter recycled (see
// sendEnd).
//
//go:noinline
func recvEnd[T any](c *Chan[T], w *waiter[T]) (T, error) {
	t := w.wk.t
	if cause := t.endParkInline(); cause != causeReady && c.abandon(w, &c.recvq) {
		putWaiter(t, w)
		var zero T
		return zero, t.cancelErr()
	}
	v, ok := w.v, w.ok
	putWaiter(t, w)
	if !ok {
		return v, ErrChanClosed
	}
	return v, nil
}

// recvPark is recv's parking for a goroutine or with a ctx to watch; c is
// locked.
//
//go:noinline
func (c *Chan[T]) recvPark(ctx context.Context) (T, error) {
	w := new(waiter[T])
	err := park(currentTask(), ctx, reasonChanRecv, func(wk Waker) bool {
		w.wk = wk
		c.recvq.push(w)
		c.mu.Unlock()
		return true
	}, kindInternal)
	var zero T
	if !c.finish(w, err, &c.recvq) {
		return zero, err
	}
	if !w.ok {
		return zero, ErrChanClosed
	}
	return w.v, nil
}

// tryRecvLocked completes a receive if it can without waiting, unlocking
// c then (see trySendLocked); ok reports whether a value came (rather than
// the closed state).
func (c *Chan[T]) tryRecvLocked(sel *selector, idx int32) (v T, ok bool, res int) {
	var zero T
	if c.n > 0 {
		if sel != nil && !sel.claim(idx) {
			return v, false, tryLost
		}
		v = c.buf[c.head]
		c.buf[c.head] = zero
		c.head = (c.head + 1) % len(c.buf)
		c.n--
		// A blocked sender's value takes the freed slot.
		if s := c.sendq.claimFirst(); s != nil {
			c.buf[(c.head+c.n)%len(c.buf)] = s.v
			c.n++
			s.v = zero
			wk := s.waker() // s may be reused once c is unlocked
			c.mu.Unlock()
			wk.Ready()
			return v, true, tryDone
		}
		c.mu.Unlock()
		return v, true, tryDone
	}
	s, lost := c.sendq.pair(sel, idx)
	if lost {
		return v, false, tryLost
	}
	if s != nil {
		v = s.v
		s.v = zero
		wk := s.waker() // s may be reused once c is unlocked
		c.mu.Unlock()
		wk.Ready()
		return v, true, tryDone
	}
	if c.closed {
		if sel != nil && !sel.claim(idx) {
			return v, false, tryLost
		}
		c.mu.Unlock()
		return v, false, tryDone
	}
	return v, false, tryNotReady
}

// TrySend sends v if it can without waiting, and reports whether it did.
// It returns false on a closed Chan.
func (c *Chan[T]) TrySend(v T) bool {
	c.mu.Lock()
	res, err := c.trySendLocked(v, nil, 0)
	if res != tryDone {
		c.mu.Unlock()
	}
	return res == tryDone && err == nil
}

// TryRecv receives a value if one is available without waiting. ok is
// false if none is (or the Chan is closed and drained).
func (c *Chan[T]) TryRecv() (v T, ok bool) {
	c.mu.Lock()
	v, ok, res := c.tryRecvLocked(nil, 0)
	if res != tryDone {
		c.mu.Unlock()
	}
	return v, ok
}

// All returns an iterator over received values; it ends when the Chan is
// closed and drained, or the receive fails (the task is cancelled).
func (c *Chan[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		for {
			v, err := c.Recv()
			if err != nil || !yield(v) {
				return
			}
		}
	}
}
