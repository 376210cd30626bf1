//go:build negcontrol && (linux || darwin || freebsd)

package poll

import (
	"testing"
	"time"
)

// TestWakeControl is TestWakeNotLost's negative control: with a Poll that
// sleeps in spite of a pending Wake (beginWait not looking at the flag), a
// Wake asked for while no Poll slept writes no event and is lost, and with
// its flag left set every later Wake is skipped: the same stress must lose
// one.
func TestWakeControl(t *testing.T) {
	brokenWakeCheck = true
	defer func() { brokenWakeCheck = false }()
	for i := 0; i < 5; i++ {
		if err := wakeStress(2 * time.Second); err != nil {
			t.Logf("lost, as expected without the check: %v", err)
			return
		}
	}
	t.Fatal("5 stress runs with Polls that ignore a pending Wake lost no wake-up: TestWakeNotLost cannot fail")
}
