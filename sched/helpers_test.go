package sched

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The tests wait for what the scheduler should bring about with these
// helpers, from the test's goroutine: each fails the test with a message
// (and a dump of the scheduler where it helps) once hangBound has passed,
// instead of hanging until the test binary's timeout.

// waitFor waits for cond, failing the test if it is not true within
// hangBound.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangBound)
	for i := 0; !cond(); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", hangBound, what)
		}
		if i < 100 {
			runtime.Gosched() // most waits are short
		} else {
			time.Sleep(time.Millisecond)
		}
	}
}

// parkedIn waits until n tasks of s are parked for reason.
func parkedIn(t testing.TB, s *Scheduler, reason string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d tasks parked in %q", n, reason), func() bool { return s.Stats().ParkedBy[reason] >= n })
}

// waitParked waits until tk is parked and switched out (stParked, not
// just parking), so that its saved stack and park fields are complete.
func waitParked(t testing.TB, tk *Task) {
	t.Helper()
	waitFor(t, fmt.Sprintf("task %d to switch out", tk.id), func() bool { return tk.state.Load()&statusMask == stParked })
}

// waitTask is tk.Wait, failing the test with a dump of tk's scheduler if
// tk has not ended within hangBound.
func waitTask(t testing.TB, tk *Task) error {
	t.Helper()
	select {
	case <-tk.Done():
	case <-time.After(hangBound):
		t.Fatalf("task %d did not end within %v:\n%s", tk.id, hangBound, dump(tk.s))
	}
	return tk.Wait()
}

// within calls wait, which blocks until what the test waits for happens
// (a WaitGroup's Wait, say), and fails the test if it has not returned
// within hangBound; wait then stays blocked in a goroutine of its own.
func within(t testing.TB, what string, wait func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait()
	}()
	select {
	case <-done:
	case <-time.After(hangBound):
		t.Fatalf("timed out after %v waiting for %s", hangBound, what)
	}
}

// recv receives from ch, failing the test if nothing comes within
// hangBound.
func recv[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangBound):
		t.Fatalf("timed out after %v waiting for %s", hangBound, what)
		panic("unreachable")
	}
}

// dump returns s's Dump.
func dump(s *Scheduler) string {
	var b strings.Builder
	s.Dump(&b)
	return b.String()
}
