package sched

import (
	"runtime"
	"testing"
	"time"
)

// parkedIn waits (by yielding, not by time) until n tasks of s are parked
// for reason.
func parkedIn(s *Scheduler, reason string, n int) {
	for s.Stats().ParkedBy[reason] < n {
		runtime.Gosched()
	}
}

// waitFor waits for cond, failing the test if it is not true within 20
// seconds: a bound that only a hang reaches.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
