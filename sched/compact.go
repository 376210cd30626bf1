package sched

import (
	"time"

	"github.com/stackslice/stackslice/slice"
)

// Packing parked tasks. The scheduler alone decides when its tasks are
// packed; package slice packs only when told to (Coroutine.Compress) or at
// every yield of a coroutine whose mode says so (Coroutine.SetCompression).
//
// With After > 0, a sweeper goroutine looks at the registry every After/2
// and packs every task parked for at least After: between After and
// 1.5*After after it parked. Until then a parked task costs nothing for it.
//
// An idle task costs no CPU either once the sweeper has dealt with it
// (packed it, or found it would not shrink): the sweeper moves it to its
// registry shard's swept list, marked flagSwept, and walks only the live
// lists, which hold the tasks that ran since the sweeper last dealt with
// them. A swept task that runs again goes back to the live list (its
// worker does it, in unsweep, before resuming it): a shard lock per wake-up
// of a task that was parked for After or longer, none for any other park.
// So a pass costs in proportion to the tasks that ran since they were last
// swept, not to the tasks that exist, and a Task needs no field for it: the
// registry's links serve both lists.
//
// The tasks get CompressNone as their own slice mode, so that slice's
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
// registry shard at a time, and returns how many parked tasks it looked at
// (for tests). The shard's lock is held only to list them: the parked tasks
// of the live list.
func (s *Scheduler) sweep() int {
	after := uint32(s.policy.After / time.Millisecond)
	visited := 0
	var batch []*Task
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		batch = parkedOn(sh.live, batch)
		if sweepAll { // negative control: the swept tasks too
			batch = parkedOn(sh.swept, batch)
		}
		visited += len(batch)
		sh.mu.Unlock()
		now := uint32(nanotime() / int64(time.Millisecond))
		for _, t := range batch {
			s.packIdle(sh, t, now, after)
		}
		clear(batch)
		batch = batch[:0]
	}
	return visited
}

// parkedOn appends to batch the parked tasks of the list that starts at
// head.
func parkedOn(head *Task, batch []*Task) []*Task {
	for t := head; t != nil; t = t.next {
		if t.state.Load()&statusMask == stParked {
			batch = append(batch, t)
		}
	}
	return batch
}

// packIdle packs t if it has been parked for at least after milliseconds
// (now is the clock parkedAt is read against), holding it still meanwhile,
// and moves it to sh's swept list, even if it would not shrink: later
// sweeps do not look at it again until it has run.
func (s *Scheduler) packIdle(sh *shard, t *Task, now, after uint32) {
	t.inspect(func(v uint64) {
		if v&statusMask != stParked || now-t.parkedAt < after || t.flags.Load()&flagSwept != 0 {
			return
		}
		t.co.Compress(s.policy.Mode)
		t.noteSize()
		// t is held parked: its worker cannot unsweep it before this.
		sh.mu.Lock()
		unlink(&sh.live, t)
		t.flags.Or(flagSwept)
		link(&sh.swept, t)
		sh.mu.Unlock()
	})
}

// unsweep puts t back on its shard's live list if the sweeper had moved it
// to the swept one: t is about to run. Its worker calls it, with t running.
func (s *Scheduler) unsweep(t *Task) {
	if t.flags.Load()&flagSwept == 0 {
		return
	}
	sh := s.shard(t)
	sh.mu.Lock()
	unlink(&sh.swept, t)
	t.flags.And(^flagSwept)
	link(&sh.live, t)
	sh.mu.Unlock()
}
