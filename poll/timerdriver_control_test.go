//go:build negcontrol && (linux || darwin || freebsd)

package poll

import (
	"testing"
	"time"
)

// TestTimerDriverControl: with the helper advancing the scheduler's wheel
// itself, TestOneTimerDriver must see two drivers at once.
func TestTimerDriverControl(t *testing.T) {
	brokenTimerDriver = true
	defer func() { brokenTimerDriver = false }()
	overlaps, fired := timerOverlap(t, time.Second)
	t.Logf("%d callbacks, %d overlapping", fired, overlaps)
	if overlaps == 0 {
		t.Fatal("with the helper advancing the wheel itself no callbacks overlapped: TestOneTimerDriver cannot fail")
	}
}
