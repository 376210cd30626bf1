//go:build negcontrol && (amd64 || arm64) && !race && !purego

package slice

import (
	"testing"

	"github.com/stackslice/stackslice/stackmap"
)

// TestQuickSaveControl proves TestQuickSaveFallsBack can fail: with a
// quick save that gives up leaving the frame pointers it converted
// (stackmap.BreakUndoForControl), the general scan must refuse the region
// or the coroutine must lose its pointers.
func TestQuickSaveControl(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("no quick save on the fallback: " + Engine().String())
	}
	stackmap.BreakUndoForControl(true)
	err := quickRoundTrips(24)
	stackmap.BreakUndoForControl(false)
	if err == nil {
		t.Fatal("coroutines kept their pointers with the quick save's undo broken: the test cannot fail")
	}
	t.Logf("with the undo broken the test fails as it should: %.200v", err)
}
