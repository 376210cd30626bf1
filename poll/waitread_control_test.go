//go:build negcontrol && (linux || darwin || freebsd)

package poll

import (
	"testing"
)

// TestWaitReadRecheckControl: with WaitRead returning at the first edge,
// TestWaitReadStaleEdge must see the stale edge end it.
func TestWaitReadRecheckControl(t *testing.T) {
	brokenWaitReadRecheck = true
	defer func() { brokenWaitReadRecheck = false }()
	if err := staleEdge(t, hangBound); err == nil {
		t.Fatal("with the re-check off, the stale edge went unnoticed")
	} else {
		t.Logf("caught, as expected: %v", err)
	}
}
