//go:build linux || darwin || freebsd

package poll

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// A deadline timer that fired while its connection's lock was held (its
// callback waiting for the lock) must not expire a deadline set meanwhile:
// the callback is stale.
func TestStaleDeadlineCallback(t *testing.T) {
	if err := staleDeadline(t); err != nil {
		t.Fatal(err)
	}
}

// staleDeadline runs TestStaleDeadlineCallback's case for each direction
// and returns the first broken expectation.
func staleDeadline(t *testing.T) error {
	for _, write := range []bool{false, true} {
		e := goroutineEnv(t)
		c, _ := pair(t, e)
		fd := c.fd
		d, set := &fd.r, c.SetReadDeadline
		if write {
			d, set = &fd.w, c.SetWriteDeadline
		}
		if err := set(time.Now().Add(2 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		fd.mu.Lock()
		// The timer fires: its node leaves the wheel, and its callback
		// waits for fd.mu.
		waitUntil(t, "the deadline timer to fire", func() bool { return fd.p.wheel.Len() == 0 })
		ref := &fd.rt
		fired := readFired
		if write {
			ref, fired = &fd.dl.wt, writeFired
		}
		fd.setDirDeadline(d, ref, fired, time.Now().Add(time.Hour))
		fd.mu.Unlock()
		// The wheel runs callbacks one at a time, in order: once a timer
		// added now has fired, the stale callback has run.
		after := make(chan struct{})
		fd.p.wheel.Add(0, func() { close(after) })
		wait(t, after, "a timer after the stale callback")
		if d.state.Load()&staleBit != 0 {
			return fmt.Errorf("write=%v: the stale mark is still set after the callback ran", write)
		}
		if d.expired() {
			return fmt.Errorf("write=%v: a stale timer callback expired the deadline set after it fired", write)
		}
		if fd.p.wheel.Len() != 1 {
			return fmt.Errorf("write=%v: %d timers pending, want the new deadline's", write, fd.p.wheel.Len())
		}
		// The new deadline still works.
		if err := set(time.Now().Add(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the new deadline to expire", d.expired)
		if !write {
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("Read after the deadline: %v", err)
			}
		}
	}
	return nil
}
