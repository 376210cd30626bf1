//go:build negcontrol && (linux || darwin || freebsd)

package poll

import "testing"

// TestStaleDeadlineControl: without the stale mark, a deadline timer that
// fired before its deadline was replaced expires the new one, and
// TestStaleDeadlineCallback must see it.
func TestStaleDeadlineControl(t *testing.T) {
	brokenStaleMark = true
	defer func() { brokenStaleMark = false }()
	if err := staleDeadline(t); err == nil {
		t.Fatal("with the stale mark off, the stale timer callback went unnoticed")
	} else {
		t.Logf("caught, as expected: %v", err)
	}
}
