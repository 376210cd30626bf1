package timers

import (
	"context"
	"time"
)

// Run drives the wheel from the calling goroutine until ctx is done: it
// sleeps until the next timer is due (or until a timer due earlier is
// added), then calls Advance with the wheel's clock. Callbacks run on the
// goroutine that called Run. Use Run when no other loop (such as a poller)
// calls Advance; at most one Run per wheel is intended.
func (w *Wheel) Run(ctx context.Context) {
	sleep := time.NewTimer(time.Hour)
	defer sleep.Stop()
	for {
		w.Advance(w.now())

		e := w.elapsed()
		w.mu.Lock()
		var d time.Duration
		if !w.empty(slotExpired) {
			d = 0
		} else if t, ok := w.nextTick(); ok {
			d = w.until(t, e)
			w.sleeping, w.sleepUntil = true, t
		} else {
			d = time.Hour
			w.sleeping, w.sleepUntil = true, w.cur+maxRel
		}
		w.mu.Unlock()

		if d > 0 {
			sleep.Reset(d)
			select {
			case <-ctx.Done():
			case <-sleep.C:
			case <-w.wake:
			}
			sleep.Stop()
		}
		w.mu.Lock()
		w.sleeping = false
		w.mu.Unlock()
		// Drop a wake-up that raced with the timer or with ctx.
		select {
		case <-w.wake:
		default:
		}
		if ctx.Err() != nil {
			return
		}
	}
}
