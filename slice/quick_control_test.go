//go:build negcontrol && (amd64 || arm64) && !race && !purego

package slice

import (
	"testing"

	"github.com/stackslice/stackslice/stackmap"
)

// TestQuickSaveControl proves TestQuickSaveFallsBack and
// TestQuickSaveWithObjects can fail: with a
// quick save that gives up leaving the frame pointers it converted
// (stackmap.BreakUndoForControl), the general scan must refuse the region
// or the coroutine must lose its pointers.
func TestQuickSaveControl(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("no quick save on the fallback: " + Engine().String())
	}
	for _, tc := range []struct {
		name  string
		frame func(int, *[]error)
	}{{"slots", quickFrame}, {"objects", quickObjFrame}} {
		stackmap.BreakUndoForControl(true)
		err := quickRoundTrips(24, tc.frame)
		stackmap.BreakUndoForControl(false)
		if err == nil {
			t.Errorf("%s: coroutines kept their pointers with the quick save's undo broken: the test cannot fail", tc.name)
			continue
		}
		t.Logf("%s: with the undo broken the test fails as it should: %.200v", tc.name, err)
	}
}
