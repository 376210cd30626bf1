package sched

import "time"

// Idle carriers: the worker of a carrier with nothing to run registers it
// as idle and sleeps. The first idle carrier is the watcher, which runs
// due timers and sleeps until the next one, in the poller if there is
// one; the others sleep on their wake channel until a producer wakes one.

// maxIdleWait bounds an idle watcher's sleep, so that a timer added from
// outside the scheduler while every carrier sleeps is seen within it.
const maxIdleWait = 50 * time.Millisecond

// idle sleeps until there may be work. The first idle carrier becomes the
// watcher: it runs due timers and sleeps until the next one, in the poller
// if there is one. The others sleep until woken.
func (c *carrier) idle() {
	s := c.s
	s.idles.Add(1)
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

// wakeWatcherLocked wakes the watcher where it sleeps: in the poller's
// Poll if there is a poller, else on its wake channel. (Poking the channel
// as well left a stale wake-up there, which the carrier took later, as a
// sleeper, for a call to work: one needless turn idle for each.) A watcher
// that began to sleep on its channel before SetPoller installed the poller
// is poked by SetPoller.
func (s *Scheduler) wakeWatcherLocked() {
	if p := s.poller.Load(); p != nil {
		(*p).Wake()
		return
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
