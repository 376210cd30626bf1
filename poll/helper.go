//go:build linux || darwin || freebsd

package poll

import "time"

// The scheduler polls only from an idle carrier (its watcher). Two cases
// leave waiters without anyone polling: a scheduler that has not started
// or has stopped its carriers while ordinary goroutines use its
// connections, and a scheduler whose carriers are all busy for a long
// time. The helper covers both: a goroutine that polls (and runs due
// timers) while somebody waits and the scheduler has not polled for
// helperAfter. It stops as soon as the scheduler polls again, nobody
// waits or the poller is closed, so in the common case (an idle watcher
// in Poll) it never runs.
//
// The timers are the scheduler's: the helper runs them through
// sched.Scheduler.AdvanceTimers, which does nothing while a carrier or the
// scheduler's monitor runs them, so that the wheel has one driver at a
// time. Only a poller of no scheduler (a test's) advances its wheel itself.

const (
	helperAfter = 10 * time.Millisecond // scheduler silence that starts the helper
	helperWait  = 10 * time.Millisecond // the helper's longest sleep
)

var pollEpoch = time.Now()

func nanotime() int64 { return int64(time.Since(pollEpoch)) }

// schedSilent reports whether the scheduler is not polling now and has not
// for helperAfter.
func (p *poller) schedSilent() bool {
	return p.inPoll.Load() == 0 && nanotime()-p.lastPoll.Load() > int64(helperAfter)
}

// waitBegin is called before a waiter parks, waitEnd after.
func (p *poller) waitBegin() {
	p.waiters.Add(1)
	if !p.helperOn.Load() && p.schedSilent() && !p.isClosed() && p.helperOn.CompareAndSwap(false, true) {
		p.helperRuns.Add(1)
		go p.helper()
	}
}

func (p *poller) waitEnd() { p.waiters.Add(-1) }

// helperNeeded reports whether the helper has work.
func (p *poller) helperNeeded() bool {
	return !p.isClosed() && p.waiters.Load() != 0 && p.schedSilent()
}

func (p *poller) helper() {
	for {
		if !p.helperNeeded() {
			p.helperOn.Store(false)
			// A waiter that arrived after the check above saw helperOn set
			// and started nothing: look again.
			if !p.helperNeeded() || !p.helperOn.CompareAndSwap(false, true) {
				return
			}
		}
		if !p.enter() {
			p.helperOn.Store(false)
			return // closed
		}
		d := helperWait
		if next, ok := p.wheel.Next(); ok && next < d {
			d = next
		}
		p.poll(d, true)
		p.runTimers()
		p.exit()
	}
}

// runTimers runs the due timers for the helper.
func (p *poller) runTimers() {
	if p.s != nil && !brokenTimerDriver {
		p.s.AdvanceTimers()
		return
	}
	p.wheel.Advance(time.Now())
}
