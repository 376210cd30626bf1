//go:build negcontrol

package httpserve

import (
	"testing"
	"time"
)

// TestIdleHoldsNoBufferControl: with connections that keep their buffers
// when they go idle, testIdleHoldsNoBuffer must see them lent.
func TestIdleHoldsNoBufferControl(t *testing.T) {
	brokenRelease = true
	defer func() { brokenRelease = false }()
	if err := testIdleHoldsNoBuffer(t, 2*time.Second); err == "" {
		t.Fatal("idle connections kept their buffers, and the test did not see it")
	} else {
		t.Logf("caught: %s", err)
	}
}
