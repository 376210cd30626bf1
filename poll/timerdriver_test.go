//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackslice/stackslice/sched"
)

// Issue 11, section 6: one timer driver. While a scheduler's carriers are
// all busy its monitor runs the due timers, and the poller's helper polls
// for the goroutines waiting on its connections; the helper must run the
// timers through the scheduler's guard, never beside the monitor.

// timerOverlap runs for about dur a scheduler whose timers fire all the
// time, with callbacks that take a while (yielding the thread midway),
// while a goroutine keeps doing what the helper does after each poll
// (runTimers). The scheduler's own driver (its idle watcher, or its
// monitor while the carriers are busy) runs them meanwhile. It returns how
// many callbacks ran while another was running, and how many ran.
//
// It calls runTimers directly rather than waiting for the helper to start,
// which needs a scheduler that has not polled for a while: whether and
// when that happens is the scheduler's policy (a carrier held by a hog may
// get a stand-in that polls).
func timerOverlap(t *testing.T, dur time.Duration) (overlaps, fired int64) {
	s := sched.New(sched.WithCarriers(1))
	defer s.Close()
	ln, err := Listen(s, "tcp", "127.0.0.1:0") // installs the poller
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p, err := pollerFor(s)
	if err != nil {
		t.Fatal(err)
	}
	// A task that wakes now and then keeps the scheduler running.
	end := time.Now().Add(dur)
	ticker, err := s.Go(func(context.Context) {
		for time.Now().Before(end) {
			sched.Sleep(time.Millisecond)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var in, over, n atomic.Int64
	callback := func() {
		if in.Add(1) > 1 {
			over.Add(1)
		}
		for start := time.Now(); time.Since(start) < 50*time.Microsecond; {
		}
		runtime.Gosched()
		for start := time.Now(); time.Since(start) < 50*time.Microsecond; {
		}
		in.Add(-1)
		n.Add(1)
	}
	helper := make(chan struct{})
	go func() { // the helper's timer step, over and over
		defer close(helper)
		for time.Now().Before(end) {
			p.runTimers()
			runtime.Gosched()
		}
	}()
	w := s.Timers()
	for i := 0; time.Now().Before(end); i++ {
		for range 4 {
			w.Add(time.Duration(i%5)*time.Millisecond, callback)
		}
		time.Sleep(500 * time.Microsecond)
	}
	wait(t, helper, "the helper's loop")
	select {
	case <-ticker.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the ticking task did not finish")
	}
	return over.Load(), n.Load()
}

func TestOneTimerDriver(t *testing.T) {
	dur := time.Second
	if testing.Short() {
		dur = 300 * time.Millisecond
	}
	overlaps, fired := timerOverlap(t, dur)
	t.Logf("%d callbacks, %d overlapping", fired, overlaps)
	if fired == 0 {
		t.Fatal("no timer fired")
	}
	if overlaps > 0 {
		t.Fatalf("%d timer callbacks ran while another was running: two goroutines advanced the wheel at once", overlaps)
	}
}
