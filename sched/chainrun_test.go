package sched

import "testing"

// A worker whose task parks and readies another goes straight on to that
// task, marking the new resume with one add on its seq word (afterRun).
// The monitor may detach the worker just before that add; the worker must
// then neither run the task nor lose it: it puts it back in its next slot
// and retires, which passes it to the carrier's queue. The race is a few
// nanoseconds wide, so the test sets the state it leaves behind by hand:
// a worker (never started) whose task switched out of a park, with a task
// in its next slot, and seq as the monitor's detach left it.
func TestChainedResumeDetached(t *testing.T) {
	for _, detached := range []bool{false, true} {
		s := New(WithCarriers(1))
		defer s.Close()
		c := s.carriers[0]
		w := c.w.Load()
		parked := &Task{s: s}
		parked.flags.Store(uint32(Normal) << prioShift)
		parked.state.Store(1<<genShift | stParking)
		next := &Task{s: s}
		next.flags.Store(uint32(Normal) << prioShift)
		next.state.Store(2<<genShift | stQueued)
		w.picks = 1 // not pollBusy's turn
		w.pushNext(next)
		seq := seqUnit | inTaskBit
		if detached {
			seq |= detachedBit
			s.standIns.Add(1)
			s.detached[w] = struct{}{}
		}
		w.seq.Store(uint64(seq))

		got, kept := w.afterRun(parked, false, nil)

		if st := parked.state.Load() & statusMask; st != stParked {
			t.Errorf("detached=%v: the task that switched out is in state %d, want parked (%d)", detached, st, stParked)
		}
		if !detached {
			if got != next || !kept {
				t.Fatalf("not detached: afterRun returned (%p, %v), want the next slot's task %p and true", got, kept, next)
			}
			if v := w.seq.Load(); v != 2*seqUnit|inTaskBit {
				t.Errorf("not detached: seq %#x after the hand-over, want %#x (a new resume, still in a task)", v, 2*seqUnit|inTaskBit)
			}
			if w.next.Load() != nil {
				t.Error("not detached: the task is still in the next slot as well")
			}
			continue
		}
		if got != nil || kept {
			t.Fatalf("detached: afterRun returned (%p, %v), want nil and false", got, kept)
		}
		if w.next.Load() != nil {
			t.Error("detached: the retired worker still holds a task in its next slot")
		}
		c.mu.Lock()
		queued := c.q[Normal].pop()
		c.mu.Unlock()
		if queued != next {
			t.Errorf("detached: the carrier's queue holds %p, want the next slot's task %p: it was lost", queued, next)
		}
		if n := s.standIns.Load(); n != 0 {
			t.Errorf("detached: %d stand-ins counted after the worker retired, want 0", n)
		}
	}
}
