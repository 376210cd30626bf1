package sched

import (
	"errors"
	"io"
	"time"

	"github.com/stackslice/stackslice/timers"
)

// A Poller lets idle carriers sleep in the OS's readiness wait (epoll_wait)
// instead of on a futex.
type Poller interface {
	// Poll waits for I/O readiness for at most timeout (forever if timeout < 0, not at all if 0),
	// readying the Wakers of ready descriptors; it returns early when Wake is called.
	Poll(timeout time.Duration)
	// Wake makes a Poll in progress (or the next one) return at once. Safe from any goroutine.
	Wake()
}

// A BusyPoller is a Poller that can also look for readiness without
// waiting, cheaply when there is nothing to do: busy carriers call PollBusy
// between tasks now and then, so that I/O readiness is noticed while no
// carrier is idle to wait in Poll. PollBusy must not block and must pass
// on any Wake it consumes.
type BusyPoller interface {
	Poller
	PollBusy()
}

// pollBusy lets the poller look for readiness from a busy carrier, if it
// can (see BusyPoller).
func (s *Scheduler) pollBusy() {
	if p := s.poller.Load(); p != nil {
		if bp, ok := (*p).(BusyPoller); ok {
			bp.PollBusy()
		}
	}
}

// ErrPollerSet is returned by SetPoller when the scheduler has one.
var ErrPollerSet = errors.New("sched: the scheduler already has a poller")

// SetPoller installs p as the scheduler's poller: from then on one idle
// carrier at a time waits in p.Poll instead of sleeping. At most one per
// scheduler. The scheduler owns p from then on: if p is an io.Closer,
// Close closes it once the carriers have stopped. SetPoller returns
// ErrClosed once the scheduler is closing.
func (s *Scheduler) SetPoller(p Poller) error {
	if p == nil {
		return errors.New("sched: SetPoller(nil)")
	}
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	if s.poller.Load() != nil {
		return ErrPollerSet
	}
	s.poller.Store(&p)
	s.wakeAllLocked() // an idle carrier may now poll
	if s.watcher != nil {
		poke(s.watcher.wake) // it may sleep on its channel, from before p
	}
	return nil
}

// Poller returns the poller installed with SetPoller, or nil.
func (s *Scheduler) Poller() Poller {
	if p := s.poller.Load(); p != nil {
		return *p
	}
	return nil
}

// closePoller closes the poller, if it is an io.Closer, after the carriers
// have stopped (Close).
func (s *Scheduler) closePoller() {
	s.idleMu.Lock()
	s.closed.Store(true) // SetPoller fails from now on (Close set it already)
	p := s.poller.Load()
	s.idleMu.Unlock()
	if p == nil {
		return
	}
	if c, ok := (*p).(io.Closer); ok {
		c.Close()
	}
}

// AdvanceTimers runs the timing wheel's due timers and returns how many
// fired, unless another goroutine is running them (then it returns 0 at
// once): the scheduler's carriers and its monitor call it, and so may a
// Poller that polls for the scheduler while its carriers are busy or
// stopped, so that the wheel has one driver at a time.
func (s *Scheduler) AdvanceTimers() int { return s.advanceTimers() }

// Timers returns the scheduler's timing wheel (used by Sleep and for
// deadlines). Its due timers are run by the scheduler's carriers: by idle
// ones, and by the monitor while all are busy; callbacks must not block.
func (s *Scheduler) Timers() *timers.Wheel { return s.wheel }
