//go:build negcontrol

package sched

import "testing"

// TestPingPongDoesNotStarveQueueControl is the negative control of
// TestPingPongDoesNotStarveQueue: with the chain of next picks unbounded
// (unboundedNext), the queued task must wait for the pair to stop.
func TestPingPongDoesNotStarveQueueControl(t *testing.T) {
	unboundedNext = true
	defer func() { unboundedNext = false }()
	const limit = 20_000
	if n := pingPongBeforeQueued(t, limit); n <= nextChainMax {
		t.Fatalf("with unboundedNext, the queued task ran after %d round trips of the pair, want more than %d: the test cannot tell", n, nextChainMax)
	}
}
