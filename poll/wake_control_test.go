//go:build negcontrol && (linux || darwin || freebsd)

package poll

import (
	"testing"
	"time"
)

// TestWakeControl is TestWakeNotLost's negative control: with the wake
// flag cleared before the event is drained (the order that lost
// wake-ups), the same stress must lose one.
func TestWakeControl(t *testing.T) {
	brokenWakeOrder = true
	defer func() { brokenWakeOrder = false }()
	for i := 0; i < 5; i++ {
		if err := wakeStress(2 * time.Second); err != nil {
			t.Logf("lost, as expected with the old order: %v", err)
			return
		}
	}
	t.Fatal("5 stress runs with the old clear-then-drain order lost no wake-up: TestWakeNotLost cannot fail")
}
