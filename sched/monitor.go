package sched

import "time"

// monitor runs while any carrier of s is busy. Every tick it runs due
// timers (idle carriers do it otherwise) and looks for carriers whose task
// has run longer than the time slice without switching: it asks that task
// to yield at its next Checkpoint and hands the carrier's other runnable
// tasks to the global queue, where the other carriers find them. A task
// that never checkpoints keeps its carrier; nothing else waits on it.
func (s *Scheduler) monitor() {
	defer close(s.monDone)
	tick := s.slice / 8
	if tick < time.Millisecond {
		tick = time.Millisecond
	}
	if tick > 5*time.Millisecond {
		tick = 5 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for !s.stopping.Load() {
		if s.nidle.Load() == int32(s.ncarriers) {
			s.monSleeping.Store(true)
			if s.nidle.Load() == int32(s.ncarriers) && !s.stopping.Load() {
				<-s.monWake
			}
			s.monSleeping.Store(false)
			continue
		}
		<-t.C
		s.advanceTimers()
		now := nanotime()
		s.coarse.Store(now)
		for _, c := range s.carriers {
			c.checkHog(now)
		}
	}
}

// checkHog notices a task that keeps c's worker. If the worker's
// goroutine has been blocked (in a system call, a Go channel, a mutex...)
// in the same resume at two ticks in a row, c gets a stand-in worker
// (standin.go) at once. Otherwise, the first tick past the time slice, the
// monitor asks the task to yield at its next Checkpoint and hands c's
// queued tasks to the other carriers; if the task is still running at the
// next tick, it is not at a Checkpoint: it is blocked in a way the engine
// cannot see (on the goroutine-backed fallback) or never checkpoints, and
// c gets a stand-in then.
func (c *carrier) checkHog(now int64) {
	w := c.w.Load()
	seq := w.seq.Load()
	if seq&inTaskBit == 0 || w != c.lastW || seq != c.lastSeq {
		c.lastW, c.lastSeq, c.since, c.stage, c.blockedTicks = w, seq, now, 0, 0
		return
	}
	if c.stage < 2 && w.blocked() {
		if c.blockedTicks++; c.blockedTicks >= 3 && c.s.standIn(c, w, seq, c.since) {
			c.stage = 2
		}
		return
	}
	c.blockedTicks = 0
	if time.Duration(now-c.since) < c.s.slice {
		return
	}
	switch c.stage {
	case 0:
		if w.preempt.CompareAndSwap(false, true) {
			preemptRequests.Add(1)
		}
		if c.handoff() > 0 {
			c.s.handoffs.Add(1)
		}
		c.stage = 1
	case 1:
		if c.s.standIn(c, w, seq, c.since) {
			c.stage = 2
		}
	}
}

func (s *Scheduler) wakeMonitor() { poke(s.monWake) }
