package sched

import (
	"time"

	"github.com/stackslice/stackslice/slice"
)

// Packing parked tasks. The scheduler alone decides when its tasks are
// packed; package slice packs only when told to (Coroutine.Compress) or at
// every yield of a coroutine whose mode says so (Coroutine.SetCompression).
//
// With After > 0, a sweeper goroutine walks the task registry every After/2
// and packs every task parked for at least After: between After and
// 1.5*After after it parked. Until then a parked task costs nothing for it.
// A task the sweeper has dealt with (packed, or found not to shrink) carries
// flagSwept until it runs again, so later sweeps skip it without holding it
// still. The tasks get CompressNone as their own slice mode, so that slice's
// global mode does not pack them at every yield besides.
//
// With After == 0 there is no sweeper: the tasks get the policy's mode as
// their own slice mode, and slice packs each at every switch-out, before
// its carrier goes on.
//
// With Mode CompressNone the scheduler packs nothing, and sets no mode: its
// tasks follow slice's global one.

// sweeps reports whether s packs its parked tasks with a sweeper.
func (s *Scheduler) sweeps() bool {
	p := s.policy
	return p.Mode != slice.CompressNone && p.After > 0 && slice.Engine().StackSlicing
}

// setTaskPolicy gives a new task's coroutine the slice mode it needs.
func (s *Scheduler) setTaskPolicy(t *Task) {
	switch {
	case s.policy.Mode == slice.CompressNone:
		// No mode of its own: slice's global one applies.
	case s.policy.After > 0:
		t.co.SetCompression(slice.CompressNone)
	default:
		t.co.SetCompression(s.policy.Mode)
	}
}

// sweeper runs sweep every After/2 until Close.
func (s *Scheduler) sweeper() {
	defer close(s.sweepDone)
	period := max(s.policy.After/2, time.Millisecond)
	t := time.NewTimer(period)
	defer t.Stop()
	for {
		select {
		case <-s.sweepStop:
			return
		case <-t.C:
		}
		s.sweep()
		t.Reset(period)
	}
}

// sweep packs every task parked for at least the policy's After, one
// registry shard at a time: the shard's lock is held only to list the
// candidates (parked, not swept since they parked).
func (s *Scheduler) sweep() {
	after := uint32(s.policy.After / time.Millisecond)
	var batch []*Task
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for t := sh.head; t != nil; t = t.next {
			if t.state.Load()&statusMask == stParked && t.flags.Load()&flagSwept == 0 {
				batch = append(batch, t)
			}
		}
		sh.mu.Unlock()
		now := uint32(nanotime() / int64(time.Millisecond))
		for _, t := range batch {
			s.packIdle(t, now, after)
		}
		clear(batch)
		batch = batch[:0]
	}
}

// packIdle packs t if it has been parked for at least after milliseconds
// (now is the clock parkedAt is read against), holding it still meanwhile.
func (s *Scheduler) packIdle(t *Task, now, after uint32) {
	t.inspect(func(v uint64) {
		if v&statusMask != stParked || now-t.parkedAt < after {
			return
		}
		t.co.Compress(s.policy.Mode)
		t.flags.Or(flagSwept) // even if it would not shrink: do not retry
	})
}
