//go:build negcontrol && linux

package poll

import "testing"

// TestCollectControl: without the cleanup, a dropped listener must stay
// open, and TestDroppedListenerCollected's check must see it.
func TestCollectControl(t *testing.T) {
	brokenCollect = true
	defer func() { brokenCollect = false }()
	if droppedListenerClosed(t, goroutineEnv(t)) {
		t.Fatal("a dropped listener was closed without its cleanup: TestDroppedListenerCollected cannot fail")
	}
}
