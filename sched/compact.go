package sched

import (
	"time"

	"github.com/stackslice/stackslice/slice"
)

// Packing idle tasks. A scheduler whose compression policy has a mode (and
// no Budget) packs its tasks itself, rather than giving each one the policy
// through slice: a sweeper goroutine walks the task registry every After/2
// and packs (slice.Coroutine.Compress) every task parked for at least
// After. slice's compactor would queue an entry (32 bytes) for every task
// the moment it parks; the sweeper costs a parked task nothing until it is
// packed, and packs it between After and 1.5*After after it parked. A task
// packed by the sweeper carries flagPacked until it runs again, so later
// sweeps skip it without holding it still.
//
// Such tasks get CompressNone as their own slice policy, so that slice's
// global policy does not pack them a second way. A policy with a Budget,
// or with After zero (pack at every switch-out, before the carrier goes
// on), is left to slice: tasks then get the scheduler's policy as their
// own, and slice packs them at once or through its compactor.

// sweeps reports whether s packs its idle tasks with a sweeper.
func (s *Scheduler) sweeps() bool {
	p := s.policy
	return p.Mode != slice.CompressNone && p.After > 0 && p.Budget <= 0 && slice.Engine().StackSlicing
}

// setTaskPolicy gives a new task's coroutine the slice policy it needs.
func (s *Scheduler) setTaskPolicy(t *Task) {
	switch {
	case s.policy.Mode == slice.CompressNone:
		// No policy of its own: slice's global one applies.
	case s.sweeps():
		t.co.SetCompression(slice.Policy{Mode: slice.CompressNone})
	default:
		t.co.SetCompression(s.policy)
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
// candidates (parked, not packed by an earlier sweep).
func (s *Scheduler) sweep() {
	after := uint32(s.policy.After / time.Millisecond)
	var batch []*Task
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for t := sh.head; t != nil; t = t.next {
			if t.state.Load()&statusMask == stParked && t.flags.Load()&flagPacked == 0 {
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
		t.flags.Or(flagPacked) // even if it would not shrink: do not retry
	})
}
