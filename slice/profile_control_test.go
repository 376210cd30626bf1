//go:build negcontrol && (amd64 || arm64) && !race && !purego

package slice_test

import (
	"testing"

	"github.com/stackslice/stackslice/arch"
	"github.com/stackslice/stackslice/slice"
)

// TestProfileUnwindControl proves TestProfileUnwindsSwitches can fail: with
// SwitchIn's work done in a function that writes SP (as before the switch
// routines were split), fewer than 95% of the samples may unwind.
func TestProfileUnwindControl(t *testing.T) {
	if !slice.Engine().StackSlicing {
		t.Skip("no switch routines on the fallback: " + slice.Engine().String())
	}
	arch.BreakUnwindForControl(true)
	defer arch.BreakUnwindForControl(false)
	under, stuck, _ := profileSwitches(t)
	total := under + stuck
	frac := float64(under) / float64(total)
	if frac >= 0.95 {
		t.Fatalf("%d of %d samples (%.1f%%) unwind with SwitchIn writing SP: the profile test cannot fail", under, total, 100*frac)
	}
	t.Logf("with SwitchIn writing SP only %.1f%% of %d samples unwind, as expected", 100*frac, total)
}
