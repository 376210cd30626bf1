//go:build negcontrol && (linux || darwin || freebsd)

package poll

import (
	"testing"
	"time"
)

// TestLockGrantControl is TestIOLockCancelVersusGrant's negative control:
// with a cancelled waiter dropping a lock handed to it, the same stress
// must find the lock held for good.
func TestLockGrantControl(t *testing.T) {
	brokenLockGrant = true
	defer func() { brokenLockGrant = false }()
	for _, d := range lockDirs {
		for i := 0; i < 5; i++ {
			if err := cancelGrantStress(t, d, 2*time.Second); err != nil {
				t.Logf("caught, as expected with the grant dropped: %v", err)
				return
			}
		}
	}
	t.Fatal("10 stress runs with grants dropped on cancellation left every lock free: TestIOLockCancelVersusGrant cannot fail")
}
