package sched

import (
	"context"

	"github.com/stackslice/stackslice/slice"
)

// A Case is one operation of a Select: see Chan.CaseRecv and Chan.CaseSend.
type Case interface {
	// poll tries the operation as case idx of sel; with enqueue, an
	// operation that cannot complete leaves a waiter behind.
	poll(sel *selector, idx int32, enqueue bool) int
	dequeue()   // removes the waiter, if still queued
	complete()  // copies a received value out
	err() error // the completed operation's error (send on closed)
}

type recvCase[T any] struct {
	c   *Chan[T]
	dst *T
	okp *bool
	w   waiter[T]
}

// CaseRecv is a receive for Select: when it is chosen, the value is stored
// in *dst and whether one came (rather than the closed state) in *ok.
// Either pointer may be nil.
func (c *Chan[T]) CaseRecv(dst *T, ok *bool) Case {
	return &recvCase[T]{c: c, dst: dst, okp: ok}
}

func (r *recvCase[T]) poll(sel *selector, idx int32, enqueue bool) int {
	r.c.mu.Lock()
	v, ok, res := r.c.tryRecvLocked(sel, idx)
	switch res {
	case tryDone:
		r.w.v, r.w.ok = v, ok
		return res
	case tryNotReady:
		if enqueue {
			r.w.sel, r.w.idx = sel, idx
			r.c.recvq.push(&r.w)
		}
	}
	r.c.mu.Unlock()
	return res
}

func (r *recvCase[T]) dequeue() {
	r.c.mu.Lock()
	r.c.recvq.remove(&r.w)
	r.c.mu.Unlock()
}

func (r *recvCase[T]) complete() {
	if r.dst != nil {
		*r.dst = r.w.v
	}
	if r.okp != nil {
		*r.okp = r.w.ok
	}
}

func (r *recvCase[T]) err() error { return nil }

type sendCase[T any] struct {
	c      *Chan[T]
	w      waiter[T]
	closed bool
}

// CaseSend is a send of v for Select. If the Chan is closed, the case is
// chosen and Select returns ErrChanClosed with its index.
func (c *Chan[T]) CaseSend(v T) Case { return &sendCase[T]{c: c, w: waiter[T]{v: v}} }

func (s *sendCase[T]) poll(sel *selector, idx int32, enqueue bool) int {
	s.c.mu.Lock()
	res, err := s.c.trySendLocked(s.w.v, sel, idx)
	switch res {
	case tryDone:
		s.closed = err != nil
		return res
	case tryNotReady:
		if enqueue {
			s.w.sel, s.w.idx = sel, idx
			s.c.sendq.push(&s.w)
		}
	}
	s.c.mu.Unlock()
	return res
}

func (s *sendCase[T]) dequeue() {
	s.c.mu.Lock()
	s.c.sendq.remove(&s.w)
	s.c.mu.Unlock()
}

func (s *sendCase[T]) complete() {}

func (s *sendCase[T]) err() error {
	if s.closed || s.w.closed {
		return ErrChanClosed
	}
	return nil
}

// Select waits until one of the cases can proceed, completes it, and
// returns its index, choosing at random among several ready ones. It
// returns -1 and the task context's error if the task is cancelled first
// (a case that completed before that still wins). From a goroutine it
// blocks the goroutine.
func Select(cases ...Case) (int, error) { return SelectCtx(nil, cases...) }

// SelectCtx is Select that also gives up when ctx ends (ctx may be nil).
func SelectCtx(ctx context.Context, cases ...Case) (int, error) {
	sel := newSelector()
	if i, ok := pollCases(sel, cases, false); ok {
		return i, finishCase(cases, i)
	}
	// The rest parks; like Park, SelectCtx parks by itself (its frame is
	// saved with the parked task).
	t := currentTask()
	if t == nil || ctx != nil && !ignoreCtx(t, ctx) {
		return selectPark(ctx, sel, cases)
	}
	sel.w = t.beginPark(reasonSelect, kindInternal)
	if _, ok := pollCases(sel, cases, true); ok {
		sel.w.Ready()
	}
	if t.state.Load()&statusMask != stWoke {
		slice.Yield()
	}
	var err error
	if t.endPark() != causeReady {
		err = t.cancelErr()
	}
	return selectEnd(sel, cases, err)
}

// selectPark is SelectCtx's parking for a goroutine or with a ctx to
// watch.
//
//go:noinline
func selectPark(ctx context.Context, sel *selector, cases []Case) (int, error) {
	if len(cases) == 0 && ctx == nil && currentTask() == nil {
		panic("sched: Select with no cases outside a task blocks forever")
	}
	err := parkInternal(ctx, reasonSelect, func(w Waker) bool {
		sel.w = w
		_, ok := pollCases(sel, cases, true)
		return !ok // a case completed: the select is over
	})
	return selectEnd(sel, cases, err)
}

// selectEnd ends a parked select: err is the park's.
//
//go:noinline
func selectEnd(sel *selector, cases []Case, err error) (int, error) {
	won := sel.fired.Load()
	if err != nil && sel.claim(selAbandoned) {
		won = selAbandoned
	} else {
		won = sel.fired.Load()
	}
	for _, c := range cases {
		c.dequeue()
	}
	if won < 0 {
		return -1, err
	}
	return int(won), finishCase(cases, int(won))
}

// TrySelect completes a case that can proceed without waiting and returns
// its index, or -1 if none can.
func TrySelect(cases ...Case) (int, error) {
	if i, ok := pollCases(newSelector(), cases, false); ok {
		return i, finishCase(cases, i)
	}
	return -1, nil
}

// pollCases polls every case from a random start; it stops at the first
// that completes (ok) or when sel has completed elsewhere.
func pollCases(sel *selector, cases []Case, enqueue bool) (int, bool) {
	n := len(cases)
	if n == 0 {
		return -1, false
	}
	start := int(cheapRand() % uint32(n))
	for k := 0; k < n; k++ {
		i := (start + k) % n
		switch cases[i].poll(sel, int32(i), enqueue) {
		case tryDone:
			return i, true
		case tryLost:
			return -1, false
		}
	}
	return -1, false
}

func finishCase(cases []Case, i int) error {
	cases[i].complete()
	return cases[i].err()
}
