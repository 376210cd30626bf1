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

// checkHog notices a task running past its slice on c.
func (c *carrier) checkHog(now int64) {
	ticks := c.switches.Load()
	if c.cur.Load() == nil || ticks != c.lastTicks {
		c.lastTicks, c.since = ticks, now
		return
	}
	if time.Duration(now-c.since) < c.s.slice {
		return
	}
	if c.preempt.CompareAndSwap(false, true) {
		preemptRequests.Add(1)
	}
	if c.handoff() > 0 {
		c.s.handoffs.Add(1)
	}
}

func (s *Scheduler) wakeMonitor() { poke(s.monWake) }
