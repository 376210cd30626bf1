//go:build linux || darwin || freebsd

package poll

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackslice/stackslice/sched"
	"github.com/stackslice/stackslice/timers"
)

// wakeStress races Wake against a poller that waits in Poll with no
// timeout to speak of, for d, then checks that one more Wake still ends a
// Poll. A lost wake-up (a wake flag left set that no Poll consumes) is for
// good: every later Wake skips its write and the handshake times out.
func wakeStress(d time.Duration) error {
	p, err := newPoller(timers.New())
	if err != nil {
		return err
	}
	defer p.close()
	var (
		stop, done atomic.Bool
		returns    atomic.Int64
		wg         sync.WaitGroup
	)
	wg.Add(1)
	go func() { // the poller: its Polls end only by Wake
		defer wg.Done()
		for !done.Load() {
			p.Poll(time.Minute)
			returns.Add(1)
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				p.Wake()
			}
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	// The handshake: after every waker has stopped, a Wake must end the
	// poller's current or next Poll. Several tries, each with a fresh
	// count, so that a Poll that was ending anyway does not count.
	var lost error
	for i := 0; i < 3 && lost == nil; i++ {
		time.Sleep(5 * time.Millisecond)
		before := returns.Load()
		p.Wake()
		deadline := time.Now().Add(5 * time.Second)
		for returns.Load() == before && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if returns.Load() == before {
			lost = fmt.Errorf("a Wake did not end the poller's Poll within 5s after %d Polls (wake flag set: %v)",
				before, p.wakePending.Load())
		}
	}
	done.Store(true)
	p.wake() // write the event directly, past the flag, to end the last Poll
	wg.Wait()
	return lost
}

// TestWakeNotLost is issue 11's lost wake-up at the poller's level: many
// Wakes racing with the Polls that consume them.
func TestWakeNotLost(t *testing.T) {
	d := 2 * time.Second
	if testing.Short() {
		d = 500 * time.Millisecond
	}
	if err := wakeStress(d); err != nil {
		t.Fatal(err)
	}
}

// TestWakeWhileAwake: a Wake while no Poll sleeps writes no wake event (it
// costs no system call), and the next Poll returns at once for it; a Wake
// while a Poll sleeps writes the event, which ends that Poll.
func TestWakeWhileAwake(t *testing.T) {
	p, err := newPoller(timers.New())
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	pollAsync := func() chan struct{} {
		done := make(chan struct{})
		go func() {
			p.Poll(time.Minute)
			close(done)
		}()
		return done
	}
	awaitPoll := func(done chan struct{}, what string) {
		t.Helper()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			p.wake() // end the Poll, past the flag
			<-done
			t.Fatalf("%s: the Poll slept on (Wake lost)", what)
		}
	}
	p.Wake()
	if w := p.stats().Wakes; w != 0 {
		t.Fatalf("a Wake with no Poll sleeping wrote the wake event (Wakes = %d)", w)
	}
	awaitPoll(pollAsync(), "a Poll after a Wake asked for while none slept")
	if p.wakePending.Load() {
		t.Fatal("the Poll that returned for a Wake left its flag set")
	}
	done := pollAsync()
	for deadline := time.Now().Add(5 * time.Second); p.sleepers.Load() == 0; {
		if time.Now().After(deadline) {
			p.wake()
			<-done
			t.Fatal("the Poll did not count itself among the sleepers within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	p.Wake()
	awaitPoll(done, "a Poll that slept when Wake came")
	if w := p.stats().Wakes; w != 1 {
		t.Fatalf("a Wake with a Poll sleeping: Wakes = %d, want 1 (the event written)", w)
	}
}

// TestWakeNotLostScheduler is the report's reproduction: one carrier with
// a poller, four goroutines that start a task at a time and wait for it.
// Afterwards the idle carrier must be able to consume every wake again: the
// wake flag goes back to clear, and a task started from outside wakes it
// (poll.Stats.Wakes grows). It did not lose a wake-up here with the old
// order either in a few runs (the window is narrow); TestWakeNotLost and
// its negative control TestWakeControl are what show the fix.
func TestWakeNotLostScheduler(t *testing.T) {
	s := sched.New(sched.WithCarriers(1))
	defer s.Close()
	ln, err := Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p, _ := pollerFor(s)
	rounds := 2000
	if testing.Short() {
		rounds = 500
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				done := make(chan struct{})
				if _, err := s.Go(func(context.Context) { close(done) }); err != nil {
					errs <- err
					return
				}
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					errs <- errors.New("a task did not run within 10s")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.wakePending.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if p.wakePending.Load() {
		t.Fatal("the poller's wake flag stays set with its carrier idle: every later Wake is skipped (lost wake-up)")
	}
	wakes := StatsFor(s).Wakes
	for range 20 {
		time.Sleep(2 * time.Millisecond) // let the carrier go idle in Poll
		done := make(chan struct{})
		s.Go(func(context.Context) { close(done) })
		wait(t, done, "a task started from outside")
	}
	if StatsFor(s).Wakes == wakes {
		t.Fatal("20 tasks started from outside while the carrier idled, and not one Wake signalled the poller")
	}
}
